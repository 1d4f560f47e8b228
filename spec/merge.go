package spec

import (
	"path"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Merging works on YAML nodes rather than on the decoded model, so every
// value keeps the file and line it came from. Before merging, the keys that
// Compose allows as either a list or a mapping are brought to their mapping
// form (canonicalize), so an override written as a list merges key by key
// into a base written as a mapping.

// listOrMapKeys are the service keys whose list form is "KEY=VALUE" (or
// "KEY:VALUE" for extra_hosts) and whose canonical form is a mapping.
var listOrMapKeys = map[string]string{
	"environment": "=",
	"labels":      "=",
	"sysctls":     "=",
	"extra_hosts": "=:",
	"annotations": "=",
}

// canonicalize rewrites the list forms of list-or-mapping keys of every
// service into mappings, and a build: string into {context: ...}.
func (l *loader) canonicalize(doc *yaml.Node) {
	services := mapValue(doc, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(services.Content); i += 2 {
		svc := services.Content[i+1]
		if svc.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(svc.Content); j += 2 {
			key, val := svc.Content[j].Value, svc.Content[j+1]
			switch key {
			case "depends_on":
				svc.Content[j+1] = l.listToMap(val, func(item *yaml.Node) (*yaml.Node, *yaml.Node) {
					cond := l.derived(item, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
					cond.Content = []*yaml.Node{l.scalar(item, "condition"), l.scalar(item, ConditionStarted)}
					return l.scalar(item, item.Value), cond
				})
			case "networks":
				svc.Content[j+1] = l.listToMap(val, func(item *yaml.Node) (*yaml.Node, *yaml.Node) {
					return l.scalar(item, item.Value), l.derived(item, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"})
				})
			case "ports":
				l.expandPortRanges(val)
			case "build":
				if val.Kind == yaml.ScalarNode && val.Tag != "!!null" {
					m := l.derived(val, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
					m.Content = []*yaml.Node{l.scalar(val, "context"), val}
					svc.Content[j+1] = m
				} else if val.Kind == yaml.MappingNode {
					for k := 0; k+1 < len(val.Content); k += 2 {
						if n := val.Content[k].Value; n == "args" || n == "labels" {
							val.Content[k+1] = l.kvListToMap(val.Content[k+1], "=")
						}
					}
				}
			default:
				if seps, ok := listOrMapKeys[key]; ok {
					svc.Content[j+1] = l.kvListToMap(val, seps)
				}
			}
		}
	}
}

// expandPortRanges replaces each short-syntax port of a range
// ("8000-8001:80-81") by one entry per port ("8000:80", "8001:81"), as
// compose's canonical form does before its second unicity pass, so that an
// override repeating one port of a base range merges with it. A host range
// for a single container port ("8000-8010:80": any free port of the range)
// is one port and stays as it is.
func (l *loader) expandPortRanges(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		return
	}
	var out []*yaml.Node
	for _, item := range n.Content {
		ports, err := ParsePortSpec(item.Value)
		if item.Kind != yaml.ScalarNode || err != nil || len(ports) < 2 {
			out = append(out, item)
			continue
		}
		for _, p := range ports {
			out = append(out, l.scalar(item, p.shortSyntax()))
		}
	}
	n.Content = out
}

// kvListToMap turns a sequence of "KEY=VALUE" strings into a mapping. A
// "KEY" without separator maps to null (for environment: take the value
// from the shell).
func (l *loader) kvListToMap(n *yaml.Node, seps string) *yaml.Node {
	return l.listToMap(n, func(item *yaml.Node) (*yaml.Node, *yaml.Node) {
		i := strings.IndexAny(item.Value, seps)
		if i < 0 {
			return l.scalar(item, item.Value), l.derived(item, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"})
		}
		return l.scalar(item, item.Value[:i]), l.scalar(item, item.Value[i+1:])
	})
}

// listToMap converts a sequence of scalars with pair(item). Anything else
// is left as it is, for the decoder to report.
func (l *loader) listToMap(n *yaml.Node, pair func(*yaml.Node) (*yaml.Node, *yaml.Node)) *yaml.Node {
	if n.Kind != yaml.SequenceNode {
		return n
	}
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode {
			return n
		}
	}
	m := l.derived(n, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
	if n.Tag == "!reset" || n.Tag == "!override" {
		m.Tag = n.Tag
	}
	for _, item := range n.Content {
		k, v := pair(item)
		m.Content = append(m.Content, k, v)
	}
	return m
}

// derived gives a new node the position and origin of the node it comes
// from.
func (l *loader) derived(from, n *yaml.Node) *yaml.Node {
	n.Line, n.Column = from.Line, from.Column
	n.Style = from.Style & (yaml.SingleQuotedStyle | yaml.DoubleQuotedStyle)
	if src := l.origin[from]; src != nil {
		l.origin[n] = src
	}
	return n
}

func (l *loader) scalar(from *yaml.Node, value string) *yaml.Node {
	return l.derived(from, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

// mapValue returns the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// mapKey returns the key node of key in mapping n, or nil.
func mapKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

// merge merges override into base with the Compose merge rules
// (compose-spec 13-merge.md) and returns the result; path is the dotted path
// of base, which selects the rule for sequences:
//
//   - mappings merge key by key;
//   - command, entrypoint and healthcheck.test are replaced;
//   - ports, volumes, secrets and configs are appended, and then
//     enforceUnicity keeps the last entry of each key (ports by host ip,
//     host port, target and protocol after ranges are expanded; the
//     others by target) in the place of the first;
//   - dns, dns_search, dns_opt, expose, cap_add, cap_drop, security_opt,
//     group_add, profiles, tmpfs, links, volumes_from and env_file append
//     what is new;
//   - other sequences append;
//   - a value tagged !reset removes the key, one tagged !override replaces
//     it whole.
func (l *loader) merge(base, over *yaml.Node, path string) *yaml.Node {
	switch {
	case over.Tag == "!override":
		over.Tag = over.ShortTag()
		if over.Kind == yaml.MappingNode {
			over.Tag = "!!map"
		} else if over.Kind == yaml.SequenceNode {
			over.Tag = "!!seq"
		}
		return over
	case base.Kind == yaml.MappingNode && over.Kind == yaml.MappingNode:
		out := l.clone(base)
		for i := 0; i+1 < len(over.Content); i += 2 {
			k, v := over.Content[i], over.Content[i+1]
			idx := -1
			for j := 0; j+1 < len(out.Content); j += 2 {
				if out.Content[j].Value == k.Value {
					idx = j
					break
				}
			}
			if v.Tag == "!reset" {
				if idx >= 0 {
					out.Content = append(out.Content[:idx], out.Content[idx+2:]...)
				}
				continue
			}
			if idx < 0 {
				out.Content = append(out.Content, k, l.stripTags(v))
				continue
			}
			out.Content[idx+1] = l.merge(out.Content[idx+1], v, joinPath(path, k.Value))
		}
		return out
	case base.Kind == yaml.SequenceNode && over.Kind == yaml.SequenceNode:
		return l.mergeSequence(base, over, path)
	}
	return l.stripTags(over)
}

// stripTags removes !reset and !override below n where there was nothing
// to reset or override.
func (l *loader) stripTags(n *yaml.Node) *yaml.Node {
	if n.Tag == "!override" || n.Tag == "!reset" {
		switch n.Kind {
		case yaml.MappingNode:
			n.Tag = "!!map"
		case yaml.SequenceNode:
			n.Tag = "!!seq"
		default:
			n.Tag = ""
			n.Tag = n.ShortTag()
		}
	}
	if n.Kind == yaml.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i+1].Tag == "!reset" {
				continue
			}
			kept = append(kept, n.Content[i], l.stripTags(n.Content[i+1]))
		}
		n.Content = kept
	}
	return n
}

func (l *loader) mergeSequence(base, over *yaml.Node, path string) *yaml.Node {
	field := path[strings.LastIndex(path, ".")+1:]
	if isServicePath(path) {
		switch field {
		case "command", "entrypoint", "test":
			return over
		case "ports", "volumes", "secrets", "configs":
			// Appended here; enforceUnicity then keeps one entry per key.
			out := l.clone(base)
			out.Content = append(out.Content, over.Content...)
			return out
		case "dns", "dns_search", "dns_opt", "expose", "cap_add", "cap_drop", "security_opt", "group_add", "profiles", "tmpfs", "links", "volumes_from", "env_file", "external_links":
			return l.appendNew(base, over)
		}
	}
	out := l.clone(base)
	out.Content = append(out.Content, over.Content...)
	return out
}

// clone copies the node n (not its children) and its origin, for a merge
// result that must not alias an input.
func (l *loader) clone(n *yaml.Node) *yaml.Node {
	out := *n
	out.Content = append([]*yaml.Node(nil), n.Content...)
	if src := l.origin[n]; src != nil {
		l.origin[&out] = src
	}
	return &out
}

// isServicePath reports whether path is a key directly below a service, or
// healthcheck.test below one.
func isServicePath(path string) bool {
	parts := strings.Split(path, ".")
	return len(parts) >= 3 && parts[0] == "services"
}

// appendNew appends the scalars of over that base does not hold yet.
func (l *loader) appendNew(base, over *yaml.Node) *yaml.Node {
	out := l.clone(base)
	have := map[string]bool{}
	for _, n := range base.Content {
		have[nodeKey(n)] = true
	}
	for _, n := range over.Content {
		if k := nodeKey(n); !have[k] {
			have[k] = true
			out.Content = append(out.Content, n)
		}
	}
	return out
}

// uniqueFields are the service sequences whose entries have a key (see
// uniqueKey).
var uniqueFields = []string{"ports", "volumes", "secrets", "configs"}

// enforceUnicity keeps one entry per key in the ports, volumes, secrets
// and configs of every service, as compose's EnforceUnicity does after
// merging (override/uncity.go): the last entry with a key wins, in the
// place of the first. It applies to a single file too: "./a:/data" and
// "./b:/data" in one list mount ./b.
func (l *loader) enforceUnicity(doc *yaml.Node) {
	services := mapValue(doc, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return
	}
	for i := 1; i < len(services.Content); i += 2 {
		for _, field := range uniqueFields {
			seq := mapValue(services.Content[i], field)
			if seq == nil || seq.Kind != yaml.SequenceNode {
				continue
			}
			var out []*yaml.Node
			index := map[string]int{}
			for _, n := range seq.Content {
				k := l.uniqueKey(n, field)
				if j, ok := index[k]; ok {
					out[j] = n
					continue
				}
				index[k] = len(out)
				out = append(out, n)
			}
			seq.Content = out
		}
	}
}

// uniqueKey computes the merge key of a ports, volumes, secrets or configs
// entry, in either syntax, as compose's indexers do (override/uncity.go):
// ports by host IP (0.0.0.0 when none), host port, container port and
// protocol; volumes by target, cleaned ("/data/" is "/data"); secrets and
// configs by target, which defaults to /run/secrets/NAME and /NAME. An
// entry that does not parse is a key of its own text, so the decoder
// reports it later.
func (l *loader) uniqueKey(n *yaml.Node, field string) string {
	switch field {
	case "ports":
		if n.Kind == yaml.ScalarNode {
			ports, err := ParsePortSpec(n.Value)
			if err != nil || len(ports) != 1 {
				return "raw:" + n.Value
			}
			p := ports[0]
			return portKey(p.HostIP, p.Published, strconv.FormatUint(uint64(p.Target), 10), p.Protocol)
		}
		return portKey(scalarOr(mapValue(n, "host_ip"), ""), scalarOr(mapValue(n, "published"), ""),
			scalarOr(mapValue(n, "target"), ""), strings.ToLower(scalarOr(mapValue(n, "protocol"), "tcp")))
	case "volumes":
		if n.Kind == yaml.ScalarNode {
			v, err := ParseVolumeSpec(n.Value)
			if err != nil {
				return "raw:" + n.Value
			}
			return v.Target
		}
		if t := scalarOr(mapValue(n, "target"), ""); t != "" {
			return path.Clean(t)
		}
		return ""
	default: // secrets, configs
		dir := "/run/secrets/"
		if field == "configs" {
			dir = "/"
		}
		if n.Kind == yaml.ScalarNode {
			return dir + n.Value
		}
		if t := scalarOr(mapValue(n, "target"), ""); t != "" {
			return t
		}
		return dir + scalarOr(mapValue(n, "source"), "")
	}
}

func portKey(hostIP, published, target, protocol string) string {
	if hostIP == "" {
		hostIP = "0.0.0.0"
	}
	return hostIP + ":" + published + ":" + target + "/" + protocol
}

func scalarOr(n *yaml.Node, def string) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return def
	}
	return n.Value
}

func nodeKey(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	out, _ := yaml.Marshal(n)
	return string(out)
}
