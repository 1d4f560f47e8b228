package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// SecurityOpt is one entry of a service's security_opt, parsed.
type SecurityOpt struct {
	// Kind is seccomp, no-new-privileges, label, apparmor or systempaths.
	Kind string
	// Value is what follows the = (or the old :): unconfined or a profile
	// path for seccomp; true or false for no-new-privileges; disable for
	// label; unconfined for apparmor and systempaths.
	Value string
}

// Unconfined reports whether the entry turns off seccomp filtering.
func (o SecurityOpt) Unconfined() bool { return o.Kind == "seccomp" && o.Value == "unconfined" }

// securityOptHelp lists what security_opt takes.
const securityOptHelp = "want seccomp=unconfined, seccomp=PROFILE.json, no-new-privileges[:true|false], label=disable, apparmor=unconfined or systempaths=unconfined"

// ParseSecurityOpt parses a security_opt entry as docker does: KEY=VALUE,
// the older KEY:VALUE, or no-new-privileges alone. What stack cannot do is
// an error: SELinux labels and AppArmor profiles (stack applies neither,
// so label=disable and apparmor=unconfined are what it does anyway).
func ParseSecurityOpt(s string) (SecurityOpt, error) {
	if s == "no-new-privileges" {
		return SecurityOpt{Kind: s, Value: "true"}, nil
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		k, v, ok = strings.Cut(s, ":")
	}
	if !ok {
		return SecurityOpt{}, fmt.Errorf("security option %q: %s", s, securityOptHelp)
	}
	o := SecurityOpt{Kind: k, Value: v}
	switch k {
	case "seccomp":
		if v == "" {
			return o, fmt.Errorf("security option %q: seccomp wants unconfined or the path of a JSON profile", s)
		}
	case "no-new-privileges":
		if v != "true" && v != "false" {
			return o, fmt.Errorf("security option %q: no-new-privileges takes true or false", s)
		}
	case "label":
		if v != "disable" {
			return o, fmt.Errorf("security option %q: stack applies no SELinux labels: only label=disable is accepted", s)
		}
	case "apparmor":
		if v != "unconfined" {
			return o, fmt.Errorf("security option %q: stack applies no AppArmor profile: only apparmor=unconfined is accepted", s)
		}
	case "systempaths":
		if v != "unconfined" {
			return o, fmt.Errorf("security option %q: systempaths takes unconfined", s)
		}
	default:
		return o, fmt.Errorf("unknown security option %q: %s", s, securityOptHelp)
	}
	return o, nil
}

// securityOpts decodes a service's security_opt, checking each entry and
// making a seccomp profile's path absolute (relative to the file that
// names it), as docker compose reads it from the project directory.
func (l *loader) securityOpts(n *yaml.Node, path string) []string {
	var out []string
	for i, item := range l.scalarList(n, path) {
		p := fmt.Sprintf("%s[%d]", path, i)
		o, err := ParseSecurityOpt(item.Value)
		if err != nil {
			l.errorf(item, p, "%v", err)
			continue
		}
		if o.Kind == "seccomp" && !o.Unconfined() {
			written := o.Value
			o.Value = l.absPath(item, o.Value)
			if err := checkProfileFile(o.Value); err != nil {
				l.errorf(item, p, "seccomp profile %s: %v", written, err)
				continue
			}
			out = append(out, "seccomp="+o.Value)
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

// checkProfileFile checks that a seccomp profile exists and is JSON; the
// daemon checks the rest when it creates the container.
func checkProfileFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("no such file")
		}
		return errors.Unwrap(err)
	}
	if !json.Valid(data) {
		return errors.New("not JSON")
	}
	return nil
}
