package dockerapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
)

// filters are the filters= query of list, prune and events requests:
// each key's values, as docker sends them ({"label":{"a=b":true}}, or
// {"label":["a=b"]} from older clients). Values of one key are
// alternatives, except labels, which must all match.
type filters map[string][]string

// maxFilterValues bounds what one filters query may hold.
const maxFilterValues = 256

// parseFilters decodes a filters query; "" is no filter.
func parseFilters(s string) (filters, error) {
	f := filters{}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	bad := func(err error) error {
		return fmt.Errorf("filters %s: %v: want {\"key\":{\"value\":true}}: %w", ident.Quote(s), err, errdefs.ErrInvalidArgument)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, bad(err)
	}
	n := 0
	for key, v := range raw {
		var set map[string]bool
		var list []string
		switch {
		case json.Unmarshal(v, &set) == nil:
			for val, on := range set {
				if on {
					list = append(list, val)
				}
			}
		case json.Unmarshal(v, &list) == nil:
		default:
			return nil, bad(fmt.Errorf("key %s", ident.Quote(key)))
		}
		if n += len(list); n > maxFilterValues {
			return nil, bad(fmt.Errorf("more than %d values", maxFilterValues))
		}
		sort.Strings(list)
		f[key] = list
	}
	return f, nil
}

// check refuses keys not in allowed, as dockerd does.
func (f filters) check(allowed ...string) error {
	for key := range f {
		if !slices.Contains(allowed, key) {
			return fmt.Errorf("invalid filter %s (stack knows %s): %w", ident.Quote(key), strings.Join(allowed, ", "), errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// anyOf reports whether the filter of key is absent or one of its values
// satisfies ok.
func (f filters) anyOf(key string, ok func(v string) bool) bool {
	vals, set := f[key]
	if !set || len(vals) == 0 {
		return true
	}
	return slices.ContainsFunc(vals, ok)
}

// is reports whether the filter of key is absent or holds value.
func (f filters) is(key, value string) bool {
	return f.anyOf(key, func(v string) bool { return v == value })
}

// labels reports whether labels satisfy every label filter of key:
// "k" (the label is there), "k=v" (with that value) or "k!=v" (not
// with that value).
func (f filters) labels(key string, labels map[string]string) bool {
	for _, want := range f[key] {
		if k, v, ok := strings.Cut(want, "!="); ok {
			if labels[k] == v {
				return false
			}
			continue
		}
		k, v, hasValue := strings.Cut(want, "=")
		got, has := labels[k]
		if !has || hasValue && got != v {
			return false
		}
	}
	return true
}

// matchName reports whether name matches pattern, a regular expression
// as dockerd takes the name filter (a pattern that is none is matched as
// a substring).
func matchName(pattern, name string) bool {
	if re, err := regexp.Compile(pattern); err == nil {
		return re.MatchString(name)
	}
	return strings.Contains(name, pattern)
}
