package spec

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// includes loads the files named by the top-level include: of doc, each as
// a project of its own (its own project directory and .env), and adds their
// services, networks, volumes, secrets and configs to doc. A resource that
// doc defines too is an error, as in Compose. seen guards against include
// loops.
func (l *loader) includes(doc *yaml.Node, src *source, seen map[string]bool) {
	inc := mapValue(doc, "include")
	if inc == nil {
		return
	}
	removeKey(doc, "include")
	if inc.Kind != yaml.SequenceNode {
		l.errorf(inc, "include", "must be a list of files or of {path, project_directory, env_file} mappings")
		return
	}
	for i, item := range inc.Content {
		path := "include[" + strconv.Itoa(i) + "]"
		var paths []*yaml.Node
		var projectDir *yaml.Node
		var envFiles []*yaml.Node
		switch item.Kind {
		case yaml.ScalarNode:
			paths = []*yaml.Node{item}
		case yaml.MappingNode:
			for j := 0; j+1 < len(item.Content); j += 2 {
				k, v := item.Content[j], item.Content[j+1]
				switch k.Value {
				case "path":
					paths = l.scalarList(v, path+".path")
				case "project_directory":
					projectDir = v
				case "env_file":
					envFiles = l.scalarList(v, path+".env_file")
				default:
					l.unknownKey(k, path, []string{"path", "project_directory", "env_file"})
				}
			}
		default:
			l.errorf(item, path, "must be a file path or a {path, project_directory, env_file} mapping")
			continue
		}
		if len(paths) == 0 {
			l.errorf(item, path, "names no file: set path:")
			continue
		}
		first := l.absPath(paths[0], paths[0].Value)
		dir := filepath.Dir(first)
		if projectDir != nil {
			dir = l.absPath(projectDir, projectDir.Value)
		}
		env, ok := l.includeEnv(item, path, dir, envFiles)
		if !ok {
			continue
		}
		var merged *yaml.Node
		for _, p := range paths {
			file := l.absPath(p, p.Value)
			if seen[file] {
				l.errorf(p, path, "include loop: %s includes itself", displayPath(file))
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				l.errorf(p, path, "cannot read included file: %v", errors.Unwrap(err))
				continue
			}
			isrc := &source{file: displayPath(file), dir: dir}
			sub := l.parse(data, isrc)
			if sub == nil {
				continue
			}
			saved := l.env
			l.env = env
			l.interpolate(sub, "")
			l.canonicalize(sub)
			seen[file] = true
			l.includes(sub, isrc, seen)
			delete(seen, file)
			l.extends(sub, isrc, nil)
			l.env = saved
			if merged == nil {
				merged = sub
			} else {
				merged = l.merge(merged, sub, "")
			}
		}
		if merged != nil {
			l.addIncluded(doc, merged, item, path)
		}
	}
}

// includeEnv reads the variables an included project interpolates with:
// its env files (default: .env in its project directory), under the shell.
func (l *loader) includeEnv(item *yaml.Node, path, dir string, envFiles []*yaml.Node) (map[string]string, bool) {
	env := map[string]string{}
	files := []string{filepath.Join(dir, ".env")}
	optional := true
	if len(envFiles) > 0 {
		files, optional = nil, false
		for _, f := range envFiles {
			files = append(files, l.absPath(f, f.Value))
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if optional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			l.errorf(item, path, "env file %s: %v", displayPath(f), errors.Unwrap(err))
			return nil, false
		}
		vals, err := ParseDotEnv(bytes.NewReader(data), displayPath(f), lookupIn(l.env, env))
		if err != nil {
			l.errorf(item, path, "%v", err)
			return nil, false
		}
		for k, v := range vals {
			env[k] = v
		}
	}
	for k, v := range l.env {
		env[k] = v
	}
	return env, true
}

// addIncluded copies the resources of an included project into doc.
func (l *loader) addIncluded(doc, inc, item *yaml.Node, path string) {
	for _, section := range []string{"services", "networks", "volumes", "secrets", "configs"} {
		from := mapValue(inc, section)
		if from == nil || from.Kind != yaml.MappingNode {
			continue
		}
		to := mapValue(doc, section)
		if to == nil {
			to = l.derived(item, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
			doc.Content = append(doc.Content, l.scalar(item, section), to)
		}
		if to.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(from.Content); i += 2 {
			name := from.Content[i].Value
			if k := mapKey(to, name); k != nil {
				l.errorf(k, section+"."+name, "conflicts with %s %q imported by %s: rename one of them", strings.TrimSuffix(section, "s"), name, path)
				continue
			}
			to.Content = append(to.Content, from.Content[i], from.Content[i+1])
		}
	}
}

// extendsRef identifies one service definition, for loop detection.
type extendsRef struct{ file, service string }

// extends resolves extends: in every service of doc, whose file is src.
// A service extending one from another file takes relative paths from
// that file's directory, which the origin of its nodes records.
func (l *loader) extends(doc *yaml.Node, src *source, chain []extendsRef) {
	services := mapValue(doc, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(services.Content); i += 2 {
		name := services.Content[i].Value
		services.Content[i+1] = l.extendService(services, name, services.Content[i+1], src, append(chain, extendsRef{src.file, name}))
	}
}

func (l *loader) extendService(services *yaml.Node, name string, svc *yaml.Node, src *source, chain []extendsRef) *yaml.Node {
	ext := mapValue(svc, "extends")
	if ext == nil || svc.Kind != yaml.MappingNode {
		return svc
	}
	path := "services." + name + ".extends"
	removeKey(svc, "extends")
	var baseName, baseFile *yaml.Node
	switch ext.Kind {
	case yaml.ScalarNode:
		baseName = ext
	case yaml.MappingNode:
		for j := 0; j+1 < len(ext.Content); j += 2 {
			k, v := ext.Content[j], ext.Content[j+1]
			switch k.Value {
			case "service":
				baseName = v
			case "file":
				baseFile = v
			default:
				l.unknownKey(k, path, []string{"service", "file"})
			}
		}
	default:
		l.errorf(ext, path, "must be a service name or a {service, file} mapping")
		return svc
	}
	if baseName == nil || baseName.Kind != yaml.ScalarNode || baseName.Value == "" {
		l.errorf(ext, path, "names no service: set service:")
		return svc
	}
	baseServices, baseSrc := services, src
	if baseFile != nil {
		file := l.absPath(baseFile, baseFile.Value)
		data, err := os.ReadFile(file)
		if err != nil {
			l.errorf(baseFile, path+".file", "cannot read %s: %v", displayPath(file), errors.Unwrap(err))
			return svc
		}
		baseSrc = &source{file: displayPath(file), dir: filepath.Dir(file)}
		other := l.parse(data, baseSrc)
		if other == nil {
			return svc
		}
		l.interpolate(other, "")
		l.canonicalize(other)
		baseServices = mapValue(other, "services")
	}
	ref := extendsRef{baseSrc.file, baseName.Value}
	for _, c := range chain {
		if c == ref {
			var names []string
			for _, c := range chain {
				names = append(names, c.service)
			}
			l.errorf(baseName, path, "extends loop: %s -> %s", strings.Join(names, " -> "), ref.service)
			return svc
		}
	}
	base := mapValue(baseServices, baseName.Value)
	if base == nil || base.Kind != yaml.MappingNode {
		l.errorf(baseName, path+".service", "service %q is not defined in %s", baseName.Value, baseSrc.file)
		return svc
	}
	base = l.extendService(baseServices, baseName.Value, base, baseSrc, append(chain, ref))
	budget := maxAliasNodes
	cp, err := copyNode(base, 0, &budget)
	if err != nil {
		cp = base
	}
	l.retrack(base, cp)
	return l.merge(cp, svc, "services."+name)
}

// retrack gives the nodes of a copy the origins of the originals.
func (l *loader) retrack(orig, cp *yaml.Node) {
	if src := l.origin[orig]; src != nil {
		l.origin[cp] = src
	}
	for i := range orig.Content {
		if i < len(cp.Content) {
			l.retrack(orig.Content[i], cp.Content[i])
		}
	}
}

func removeKey(n *yaml.Node, key string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return
		}
	}
}

// absPath resolves p, read from node n, against the directory of n's file,
// expanding a leading ~ to $HOME.
func (l *loader) absPath(n *yaml.Node, p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = filepath.Join(l.home, p[1:])
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.dirOf(n), p)
}
