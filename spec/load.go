package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stack-dev/stack/internal/errdefs"
)

// DefaultFileNames returns the stack file names looked for, in order, when
// no file is named.
func DefaultFileNames() []string {
	return []string{"stack.yaml", "stack.yml", "compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"}
}

// LoadOptions says where a stack comes from.
type LoadOptions struct {
	// Files are the stack files (-f), merged in order. Optional: when empty,
	// COMPOSE_FILE, then the first of DefaultFileNames found in WorkingDir
	// or a parent of it (plus its .override. companion) is used. "-" reads
	// Stdin.
	Files []string
	// WorkingDir is the project directory (--project-directory). Optional:
	// defaults to the directory of the first file.
	WorkingDir string
	// ProjectName (-p) overrides COMPOSE_PROJECT_NAME and name:. Optional.
	ProjectName string
	// EnvFiles (--env-file) replace the default .env of the project
	// directory. Optional.
	EnvFiles []string
	// Environ is the shell environment, as os.Environ returns it. Its values
	// win over env files.
	Environ []string
	// Stdin is read for a file named "-". Optional.
	Stdin io.Reader
	// NoInterpolate leaves ${VAR} expressions as they are written (config
	// --no-interpolate). Optional.
	NoInterpolate bool
}

// Load reads, interpolates, merges, decodes and validates a stack. The
// error, if any, joins every problem found (see [Errors]); each one names
// its file, line and column and wraps errdefs.ErrInvalidArgument.
func Load(opts LoadOptions) (*Project, error) {
	l := &loader{origin: map[*yaml.Node]*source{}, pos: map[string]*yaml.Node{}}
	p, err := l.load(opts)
	if err != nil {
		return nil, err
	}
	if len(l.errs) > 0 {
		return nil, joinSorted(l.errs)
	}
	return p, nil
}

// source is the file a yaml node was read from, and the directory its
// relative paths resolve against.
type source struct {
	file string
	dir  string
}

type loader struct {
	origin map[*yaml.Node]*source
	// pos maps a field path to the node it was decoded from, so validation
	// can point at the right line.
	pos   map[string]*yaml.Node
	env   map[string]string
	home  string
	errs  []error
	warns []string
	// unset holds the variables a stack file uses that are not set,
	// warned about once each.
	unset map[string]bool
}

func (l *loader) load(opts LoadOptions) (*Project, error) {
	merged, files, workDir, err := l.mergeFiles(opts)
	if err != nil {
		return nil, err
	}
	p := l.decodeProject(merged)
	p.WorkingDir = workDir
	for _, f := range files {
		p.Files = append(p.Files, f.name)
	}
	l.projectName(p, opts, workDir, merged)
	l.normalize(p)
	l.validate(p)
	p.Warnings = append(p.Warnings, l.warns...)
	return p, nil
}

// RenderUninterpolated returns the stack files opts names merged into one
// YAML document with their ${VAR} expressions as written (config
// --no-interpolate): a document that cannot be decoded before
// interpolation (a port "${PORT}:80") is printed as it merges.
func RenderUninterpolated(opts LoadOptions) ([]byte, error) {
	opts.NoInterpolate = true
	l := &loader{origin: map[*yaml.Node]*source{}, pos: map[string]*yaml.Node{}}
	merged, _, _, err := l.mergeFiles(opts)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(l.stripTags(merged)); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// mergeFiles reads, interpolates (unless opts.NoInterpolate) and merges
// the stack files, includes and extends resolved.
func (l *loader) mergeFiles(opts LoadOptions) (*yaml.Node, []stackFile, string, error) {
	shell := environMap(opts.Environ)
	files, workDir, err := l.resolveFiles(opts, shell)
	if err != nil {
		return nil, nil, "", err
	}
	env, err := l.environment(opts, workDir, shell)
	if err != nil {
		return nil, nil, "", err
	}
	l.env = env
	l.home = env["HOME"]

	var merged *yaml.Node
	for _, f := range files {
		src := &source{file: f.name, dir: workDir}
		doc := l.parse(f.data, src)
		if doc == nil {
			continue
		}
		if !opts.NoInterpolate {
			l.interpolate(doc, "")
		}
		l.canonicalize(doc)
		l.includes(doc, src, map[string]bool{f.path: true})
		l.extends(doc, src, nil)
		if merged == nil {
			merged = doc
		} else {
			merged = l.merge(merged, doc, "")
		}
	}
	if merged != nil {
		l.enforceUnicity(merged)
	}
	if len(l.errs) > 0 {
		return nil, nil, "", joinSorted(l.errs)
	}
	if merged == nil {
		return nil, nil, "", &Error{File: files[0].name, Msg: "empty stack file: add a services: section", Class: errdefs.ErrInvalidArgument}
	}
	return merged, files, workDir, nil
}

type stackFile struct {
	name string // for messages
	path string // absolute; "" for stdin
	data []byte
}

// resolveFiles finds and reads the stack files and settles the project
// directory.
func (l *loader) resolveFiles(opts LoadOptions, shell map[string]string) ([]stackFile, string, error) {
	names := opts.Files
	if len(names) == 0 && shell["COMPOSE_FILE"] != "" {
		sep := shell["COMPOSE_PATH_SEPARATOR"]
		if sep == "" {
			sep = string(os.PathListSeparator)
		}
		names = strings.Split(shell["COMPOSE_FILE"], sep)
	}
	if len(names) == 0 {
		start := opts.WorkingDir
		if start == "" {
			var err error
			if start, err = os.Getwd(); err != nil {
				return nil, "", fmt.Errorf("find stack file: %w", err)
			}
		}
		found, err := l.discover(start)
		if err != nil {
			return nil, "", err
		}
		names = found
	}
	var files []stackFile
	for _, n := range names {
		if n == "-" {
			if opts.Stdin == nil {
				return nil, "", fmt.Errorf("read stack file from stdin: no input: %w", errdefs.ErrInvalidArgument)
			}
			data, err := io.ReadAll(opts.Stdin)
			if err != nil {
				return nil, "", fmt.Errorf("read stack file from stdin: %w", err)
			}
			files = append(files, stackFile{name: "-", data: data})
			continue
		}
		abs, err := filepath.Abs(n)
		if err != nil {
			return nil, "", fmt.Errorf("stack file %s: %w", n, err)
		}
		data, err := os.ReadFile(abs)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, "", fmt.Errorf("stack file %s: %w", n, errdefs.ErrNotFound)
			}
			return nil, "", fmt.Errorf("read stack file: %w", err)
		}
		files = append(files, stackFile{name: displayPath(abs), path: abs, data: data})
	}
	workDir := opts.WorkingDir
	if workDir == "" {
		if files[0].name == "-" {
			workDir, _ = os.Getwd()
		} else {
			abs, _ := filepath.Abs(names[0])
			workDir = filepath.Dir(abs)
		}
	}
	workDir, err := filepath.Abs(workDir)
	if err != nil {
		return nil, "", fmt.Errorf("project directory: %w", err)
	}
	return files, workDir, nil
}

// discover looks for a default stack file in dir and its parents, as
// docker compose does, and adds its override companion.
func (l *loader) discover(dir string) ([]string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		var found []string
		for _, name := range DefaultFileNames() {
			if fi, err := os.Stat(filepath.Join(d, name)); err == nil && !fi.IsDir() {
				found = append(found, name)
			}
		}
		if len(found) > 0 {
			if len(found) > 1 {
				l.warns = append(l.warns, fmt.Sprintf("found several stack files in %s (%s): using %s", d, strings.Join(found, ", "), found[0]))
			}
			files := []string{filepath.Join(d, found[0])}
			ext := filepath.Ext(found[0])
			for _, e := range []string{ext, ".yaml", ".yml"} {
				override := filepath.Join(d, strings.TrimSuffix(found[0], ext)+".override"+e)
				if _, err := os.Stat(override); err == nil {
					files = append(files, override)
					break
				}
			}
			return files, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return nil, fmt.Errorf("no stack file in %s or its parents (looked for %s): name one with -f: %w",
		dir, strings.Join(DefaultFileNames(), ", "), errdefs.ErrNotFound)
}

// environment builds the variables used for interpolation: the env files
// (the project's .env unless --env-file names others), then the shell,
// which wins.
func (l *loader) environment(opts LoadOptions, workDir string, shell map[string]string) (map[string]string, error) {
	env := map[string]string{}
	envFiles := opts.EnvFiles
	optional := false
	if len(envFiles) == 0 {
		envFiles = []string{filepath.Join(workDir, ".env")}
		optional = true
	}
	for _, f := range envFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			if optional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("env file %s: %w", f, err)
		}
		vals, err := ParseDotEnv(bytes.NewReader(data), displayPath(f), lookupIn(shell, env))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
		}
		for k, v := range vals {
			env[k] = v
		}
	}
	for k, v := range shell {
		env[k] = v
	}
	return env, nil
}

// projectName settles the project name: -p, then COMPOSE_PROJECT_NAME,
// then name:, then the project directory's name, normalised as docker
// compose does.
func (l *loader) projectName(p *Project, opts LoadOptions, workDir string, root *yaml.Node) {
	switch {
	case opts.ProjectName != "":
		if NormalizeProjectName(opts.ProjectName) != opts.ProjectName {
			l.errs = append(l.errs, fmt.Errorf("project name %q: must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit: %w", opts.ProjectName, errdefs.ErrInvalidArgument))
		}
		p.Name = opts.ProjectName
	case l.env["COMPOSE_PROJECT_NAME"] != "":
		p.Name = NormalizeProjectName(l.env["COMPOSE_PROJECT_NAME"])
	case p.Name != "":
		if n := NormalizeProjectName(p.Name); n != p.Name {
			l.errorf(l.pos["name"], "name", "project name %q must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit (try %q)", p.Name, n)
		}
	default:
		p.Name = NormalizeProjectName(filepath.Base(workDir))
	}
	if p.Name == "" {
		l.errs = append(l.errs, fmt.Errorf("project name: %s gives an empty name: set name: in the stack file or use -p: %w", workDir, errdefs.ErrInvalidArgument))
	}
}

// NormalizeProjectName turns s into a valid project name: lowercase, only
// letters, digits, '-' and '_', starting with a letter or digit.
func NormalizeProjectName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		}
	}
	return strings.TrimLeft(b.String(), "-_")
}

// parse reads one YAML document and records the origin of every node.
func (l *loader) parse(data []byte, src *source) *yaml.Node {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		l.errs = append(l.errs, yamlError(src.file, data, err))
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errorAt(src.file, extra.Line, extra.Column, "", "a stack file holds one YAML document: remove the --- separator or split the file")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		l.errorAt(src.file, root.Line, root.Column, "", "the top level of a stack file must be a mapping with a services: key")
		return nil
	}
	budget := maxAliasNodes
	if err := resolveAliases(root, 0, &budget); err != nil {
		l.errorAt(src.file, root.Line, root.Column, "", err.Error())
		return nil
	}
	l.track(root, src)
	return root
}

// track records src as the origin of n and everything below it.
func (l *loader) track(n *yaml.Node, src *source) {
	if _, seen := l.origin[n]; seen {
		return
	}
	l.origin[n] = src
	for _, c := range n.Content {
		l.track(c, src)
	}
	if n.Alias != nil {
		l.track(n.Alias, src)
	}
}

// maxAliasDepth and maxAliasNodes bound alias expansion, so a "billion
// laughs" document fails instead of eating the machine.
const (
	maxAliasDepth = 64
	maxAliasNodes = 1 << 16
)

var errAliasBomb = errors.New("YAML aliases expand to too large a document")

// resolveAliases replaces alias nodes by copies of their anchors and
// expands merge keys (<<), so later stages see plain mappings. Copies keep
// the anchor's positions: an error inside points at the anchor's text.
func resolveAliases(n *yaml.Node, depth int, budget *int) error {
	if depth > maxAliasDepth {
		return errAliasBomb
	}
	for i, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			cp, err := copyNode(c.Alias, depth+1, budget)
			if err != nil {
				return err
			}
			n.Content[i] = cp
		}
	}
	for _, c := range n.Content {
		if err := resolveAliases(c, depth+1, budget); err != nil {
			return err
		}
	}
	if n.Kind == yaml.MappingNode {
		expandMergeKeys(n)
	}
	return nil
}

// copyNode deep-copies n, resolving aliases inside it. budget counts the
// nodes one document may still copy.
func copyNode(n *yaml.Node, depth int, budget *int) (*yaml.Node, error) {
	if *budget--; depth > maxAliasDepth || *budget < 0 {
		return nil, errAliasBomb
	}
	if n.Kind == yaml.AliasNode {
		return copyNode(n.Alias, depth+1, budget)
	}
	cp := *n
	cp.Content = make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		cc, err := copyNode(c, depth+1, budget)
		if err != nil {
			return nil, err
		}
		cp.Content[i] = cc
	}
	return &cp, nil
}

// expandMergeKeys applies YAML merge keys: "<<: *base" or "<<: [*a, *b]"
// add the keys of the merged mappings that the mapping does not set itself.
func expandMergeKeys(n *yaml.Node) {
	var own []*yaml.Node
	var merged [][]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			switch v.Kind {
			case yaml.MappingNode:
				merged = append(merged, v.Content)
			case yaml.SequenceNode:
				for _, m := range v.Content {
					if m.Kind == yaml.MappingNode {
						merged = append(merged, m.Content)
					}
				}
			}
			continue
		}
		own = append(own, k, v)
	}
	if merged == nil {
		return
	}
	have := map[string]bool{}
	for i := 0; i < len(own); i += 2 {
		have[own[i].Value] = true
	}
	for _, m := range merged {
		for i := 0; i+1 < len(m); i += 2 {
			if !have[m[i].Value] {
				have[m[i].Value] = true
				own = append(own, m[i], m[i+1])
			}
		}
	}
	n.Content = own
}

// interpolate substitutes variables in every scalar value (never in keys),
// as Compose does, before files are merged.
func (l *loader) interpolate(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := interpolate(n.Value, lookupIn(l.env), l.warnUnset)
		if err != nil {
			l.errorf(n, path, "%v", err)
			return
		}
		n.Value = v
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 {
			// A plain scalar is re-typed after substitution, so
			// "replicas: ${N}" decodes as a number.
			n.Tag = ""
			n.Tag = n.ShortTag()
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.interpolate(n.Content[i+1], joinPath(path, n.Content[i].Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			l.interpolate(c, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// warnUnset warns, once per variable, of a $VAR of the stack file that is
// not set, in compose's words.
func (l *loader) warnUnset(name string) {
	if l.unset == nil {
		l.unset = map[string]bool{}
	}
	if !l.unset[name] {
		l.unset[name] = true
		l.warns = append(l.warns, UnsetVariableWarning(name))
	}
}

func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if k != "" {
			m[k] = v
		}
	}
	return m
}

// lookupIn returns a Lookup over maps, the first holding a name winning.
func lookupIn(maps ...map[string]string) Lookup {
	return func(name string) (string, bool) {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}
}

// displayPath shortens path relative to the working directory when that is
// shorter, so messages read "stack.yaml:3:5" rather than a long absolute path.
func displayPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: ...") into an
// Error with the file name, at the line and column of the mistake when
// yamlDiagnosis finds it in data (yaml.v3's line is often another one).
func yamlError(file string, data []byte, err error) error {
	if p, ok := yamlDiagnosis(data); ok {
		return &Error{File: file, Line: p.line, Column: p.col, Msg: "invalid YAML: " + p.msg, Class: errdefs.ErrInvalidArgument}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ":"); ok {
			fmt.Sscanf(n, "%d", &line)
			msg = strings.TrimSpace(after)
		}
	}
	return &Error{File: file, Line: line, Column: 1, Msg: "invalid YAML: " + msg, Class: errdefs.ErrInvalidArgument}
}

// errorf records a problem at node n. A nil n (a value with no position)
// reports the file only.
func (l *loader) errorf(n *yaml.Node, path, format string, args ...any) {
	l.report(n, path, errdefs.ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// notImplemented records a valid Compose key that stack does not support.
func (l *loader) notImplemented(n *yaml.Node, path, what string) {
	l.report(n, path, errdefs.ErrNotImplemented, what+" is not supported by stack yet: remove it, or run this service elsewhere")
}

func (l *loader) report(n *yaml.Node, path string, class error, msg string) {
	e := &Error{Path: path, Msg: msg, Class: class}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
		if src := l.origin[n]; src != nil {
			e.File = src.file
		}
	}
	if e.File == "" {
		e.File = "stack file"
	}
	l.errs = append(l.errs, e)
}

func (l *loader) errorAt(file string, line, col int, path, msg string) {
	l.errs = append(l.errs, &Error{File: file, Line: line, Column: col, Path: path, Msg: msg, Class: errdefs.ErrInvalidArgument})
}

// warnf records a warning at node n.
func (l *loader) warnf(n *yaml.Node, path, format string, args ...any) {
	loc := ""
	if n != nil {
		if src := l.origin[n]; src != nil {
			loc = fmt.Sprintf("%s:%d:%d: ", src.file, n.Line, n.Column)
		}
	}
	if path != "" {
		loc += path + ": "
	}
	l.warns = append(l.warns, loc+fmt.Sprintf(format, args...))
}

// dirOf returns the directory relative paths in n resolve against.
func (l *loader) dirOf(n *yaml.Node) string {
	if src := l.origin[n]; src != nil {
		return src.dir
	}
	return ""
}

// Environment returns the variables interpolation uses for the stack opts
// names: the shell's, over those of the env files (.env in the project
// directory by default), as `config --environment` prints them.
func Environment(opts LoadOptions) (map[string]string, error) {
	l := &loader{origin: map[*yaml.Node]*source{}, pos: map[string]*yaml.Node{}}
	shell := environMap(opts.Environ)
	_, workDir, err := l.resolveFiles(opts, shell)
	if err != nil {
		return nil, err
	}
	return l.environment(opts, workDir, shell)
}

// ActiveProfiles returns the profiles a command runs with, as compose
// picks them: the --profile values, or else COMPOSE_PROFILES's
// comma-separated list (env is its value).
func ActiveProfiles(flags []string, env string) []string {
	if len(flags) > 0 {
		return flags
	}
	if env != "" {
		return strings.Split(env, ",")
	}
	return nil
}
