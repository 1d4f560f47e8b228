package dockerapi

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/stack-dev/stack/internal/errdefs"
)

// A request's fields that stack does not implement are refused, each by
// name, rather than dropped: a limit, a device or a namespace mode that
// silently did not apply is how a dev environment and production drift
// apart.

// reflectValue is the value a fieldRule judges.
type reflectValue = reflect.Value

// fieldRule accepts the values of a field that stack implements; a nil
// rule accepts every value.
type fieldRule func(v reflect.Value) bool

// equals accepts a string field's values in vals (its zero value is
// always accepted).
func equals(vals ...string) fieldRule {
	return func(v reflect.Value) bool {
		s := fmt.Sprint(v.Interface())
		for _, want := range vals {
			if s == want {
				return true
			}
		}
		return false
	}
}

// isFalse accepts a *bool or bool that is false.
func isFalse(v reflect.Value) bool { return v.Kind() == reflect.Bool && !v.Bool() }

// unsetFields lists, in JSON naming, the paths of the fields of v that
// are set (not their zero value) and that allowed does not accept.
// allowed is keyed by the field's path pattern ("HostConfig.Memory",
// "NetworkingConfig.EndpointsConfig.*.Aliases": * stands for a map key
// or a slice index); a pattern of a struct accepts all of it. Embedded
// structs are flattened, as encoding/json does.
func unsetFields(v any, allowed map[string]fieldRule) []string {
	var out []string
	walkFields("", "", reflect.ValueOf(v), allowed, &out)
	return out
}

// checkFields fails, with ErrInvalidArgument, naming every field of v
// that unsetFields finds.
func checkFields(what string, v any, allowed map[string]fieldRule) error {
	bad := unsetFields(v, allowed)
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s: not supported by stack (README: what the Docker API covers); leave %s unset: %w",
		what, strings.Join(bad, ", "), map[bool]string{true: "it", false: "them"}[len(bad) == 1], errdefs.ErrInvalidArgument)
}

var (
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	timeType      = reflect.TypeFor[time.Time]()
)

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func walkFields(path, pattern string, v reflect.Value, allowed map[string]fieldRule, out *[]string) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		if rule, ok := allowed[pattern]; ok && v.Elem().Kind() != reflect.Struct {
			// A pointer to a value: the rule judges the value.
			if rule == nil || rule(v.Elem()) {
				return
			}
			*out = append(*out, path)
			return
		}
		v = v.Elem()
	}
	leaf := func() {
		if v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
			return
		}
		if rule, ok := allowed[pattern]; ok && (rule == nil || rule(v)) {
			return
		}
		*out = append(*out, path)
	}
	if pattern != "" {
		if rule, ok := allowed[pattern]; ok && rule == nil {
			return // the whole of it is handled
		}
	}
	t := v.Type()
	if t == timeType || t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		leaf()
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				walkFields(path, pattern, v.Field(i), allowed, out)
				continue
			}
			if name == "" {
				name = f.Name
			}
			walkFields(join(path, name), join(pattern, name), v.Field(i), allowed, out)
		}
	case reflect.Map:
		if v.Len() == 0 {
			return
		}
		if !isStructy(t.Elem()) {
			leaf()
			return
		}
		iter := v.MapRange()
		for iter.Next() {
			walkFields(fmt.Sprintf("%s[%v]", path, iter.Key().Interface()), join(pattern, "*"), iter.Value(), allowed, out)
		}
	case reflect.Slice:
		if v.Len() == 0 {
			return
		}
		if !isStructy(t.Elem()) {
			leaf()
			return
		}
		for i := 0; i < v.Len(); i++ {
			walkFields(path+"["+strconv.Itoa(i)+"]", join(pattern, "*"), v.Index(i), allowed, out)
		}
	default:
		leaf()
	}
}

// isStructy reports whether t is a struct or a pointer to one that is
// not a text value.
func isStructy(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != timeType && !t.Implements(textMarshaler) && !reflect.PointerTo(t).Implements(textMarshaler)
}
