package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/moby/patternmatcher"
	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/archive"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// watchQuiet is how long changes must stop coming before a rule acts on
// them, so that a save of many files (a checkout, a build) acts once.
const watchQuiet = 500 * time.Millisecond

func newWatchCommand(g *globalOptions) *cobra.Command {
	var noUp, prune, quiet bool
	cmd := &cobra.Command{
		Use:               "watch [SERVICE...]",
		Short:             "Watch the build context for services and rebuild/refresh containers when files are updated",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.loadProject()
			if err != nil {
				return err
			}
			if err := checkServices(p, args); err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if !noUp {
				if err := g.upServices(ctx, c, p, args, false, quiet); err != nil {
					return err
				}
			}
			return g.watchProject(ctx, c, p, args, watchOptions{quiet: quiet, prune: prune})
		},
	}
	cmd.Flags().BoolVar(&noUp, "no-up", false, "do not build & start services before watching")
	cmd.Flags().BoolVar(&prune, "prune", true, "prune dangling images on rebuild")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "hide build output")
	return cmd
}

// upServices is up -d of services (with their dependencies), building
// what it must first; force rebuilds and recreates them.
func (g *globalOptions) upServices(ctx context.Context, c *api.Client, p *spec.Project, services []string, force, quiet bool) error {
	data, err := spec.RenderJSON(p)
	if err != nil {
		return err
	}
	pr := g.newProgress("Running")
	defer pr.Done()
	if err := g.buildForUp(ctx, c, p, services, force, force, quiet, pr); err != nil {
		return err
	}
	req := api.UpRequest{Project: data, Profiles: g.activeProfiles(), Services: services, NoDeps: force}
	return runEvents(ctx, c, "/projects/"+p.Name+"/up", req, pr, nil)
}

// watchOptions are what watch (and up --watch) do besides the rules.
type watchOptions struct {
	quiet bool // no build output
	prune bool // remove the image a rebuild replaced, as compose's --prune
}

// watchRule is a develop.watch rule of a service with its matchers.
type watchRule struct {
	service string
	spec.WatchRule
	ignore  *patternmatcher.PatternMatcher
	include *patternmatcher.PatternMatcher
}

// watchProject runs the develop.watch rules of the selected services until
// ctx ends: it syncs files into containers, rebuilds, restarts or runs a
// command, as each rule says.
func (g *globalOptions) watchProject(ctx context.Context, c *api.Client, p *spec.Project, services []string, o watchOptions) error {
	sel, err := planner.Select(p, planner.SelectOptions{Profiles: g.activeProfiles(), Services: services})
	if err != nil {
		return err
	}
	rules, err := watchRules(p, sel.Services())
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		return fmt.Errorf("none of the selected services is configured for watch, consider setting a 'develop' section")
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer w.Close()
	for _, r := range rules {
		if err := watchTree(w, r.Path); err != nil {
			return fmt.Errorf("watch %s: %w", r.Path, err)
		}
		if r.InitialSync && strings.HasPrefix(r.Action, "sync") {
			if err := g.syncPaths(ctx, c, p.Name, r, []string{r.Path}); err != nil {
				fmt.Fprintf(g.stderr, "WARN[0000] initial sync of %s: %v\n", r.service, err)
			}
		}
	}
	fmt.Fprintln(g.stderr, "Watch enabled")
	pending := map[int][]string{} // rule index -> changed paths
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.Errors:
			fmt.Fprintf(g.stderr, "WARN[0000] watch: %v\n", err)
		case ev := <-w.Events:
			if ev.Op&fsnotify.Create != 0 {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					watchTree(w, ev.Name)
				}
			}
			for i, r := range rules {
				if r.matches(ev.Name) && !slices.Contains(pending[i], ev.Name) {
					pending[i] = append(pending[i], ev.Name)
					timer.Reset(watchQuiet)
				}
			}
		case <-timer.C:
			for i, paths := range pending {
				if err := g.applyRule(ctx, c, p, rules[i], paths, o); err != nil {
					fmt.Fprintf(g.stderr, "WARN[0000] watch %s: %v\n", rules[i].service, err)
				}
			}
			pending = map[int][]string{}
		}
	}
}

// watchRules gathers the services' rules, ignoring what compose ignores:
// the rule's own patterns, the build context's .dockerignore for rules
// under it, and editors' temporary files.
func watchRules(p *spec.Project, services []string) ([]watchRule, error) {
	var out []watchRule
	for _, name := range services {
		svc := p.Services[name]
		if svc.Develop == nil {
			continue
		}
		for _, r := range svc.Develop.Watch {
			ignore := append([]string{".git", "**/*~", "**/.*.swp", "**/.*.swx", "**/4913"}, r.Ignore...)
			if svc.Build != nil && strings.HasPrefix(r.Path, svc.Build.Context) {
				if data, err := os.ReadFile(filepath.Join(svc.Build.Context, ".dockerignore")); err == nil {
					for _, l := range strings.Split(string(data), "\n") {
						if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
							if rel, err := filepath.Rel(r.Path, filepath.Join(svc.Build.Context, l)); err == nil && !strings.HasPrefix(rel, "..") {
								ignore = append(ignore, rel)
							}
						}
					}
				}
			}
			wr := watchRule{service: name, WatchRule: r}
			var err error
			if wr.ignore, err = patternmatcher.New(ignore); err != nil {
				return nil, fmt.Errorf("service %s: watch ignore: %w", name, err)
			}
			if len(r.Include) > 0 {
				if wr.include, err = patternmatcher.New(r.Include); err != nil {
					return nil, fmt.Errorf("service %s: watch include: %w", name, err)
				}
			}
			out = append(out, wr)
		}
	}
	return out, nil
}

// matches reports whether a changed file is the rule's.
func (r watchRule) matches(file string) bool {
	rel, err := filepath.Rel(r.Path, file)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	if rel == "." {
		return true
	}
	if ok, _ := r.ignore.MatchesOrParentMatches(rel); ok {
		return false
	}
	if r.include != nil {
		ok, _ := r.include.MatchesOrParentMatches(rel)
		return ok
	}
	return true
}

// watchTree watches dir and every directory under it (fsnotify watches
// one directory at a time); a file is watched as itself.
func watchTree(w *fsnotify.Watcher, root string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return w.Add(root)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return w.Add(p)
		}
		return nil
	})
}

// applyRule carries out a rule for the paths that changed.
func (g *globalOptions) applyRule(ctx context.Context, c *api.Client, p *spec.Project, r watchRule, paths []string, o watchOptions) error {
	switch r.Action {
	case spec.WatchRebuild:
		fmt.Fprintf(g.stderr, "Rebuilding service %q after changes were detected...\n", r.service)
		ref := serviceImageRef(p, p.Services[r.service])
		old := imageID(ctx, c, ref)
		if err := g.upServices(ctx, c, p, []string{r.service}, true, o.quiet); err != nil {
			return err
		}
		if o.prune && old != "" {
			g.pruneReplaced(ctx, c, old)
		}
		return nil
	case spec.WatchRestart:
		fmt.Fprintf(g.stderr, "Restarting service %q after changes were detected...\n", r.service)
		return runEvents(ctx, c, "/projects/"+p.Name+"/restart", api.StopRequest{Services: []string{r.service}}, g.newProgress("Restarting"), nil)
	}
	fmt.Fprintf(g.stderr, "Syncing service %q after %d changes were detected\n", r.service, len(paths))
	if err := g.syncPaths(ctx, c, p.Name, r, paths); err != nil {
		return err
	}
	switch r.Action {
	case spec.WatchSyncRestart:
		return runEvents(ctx, c, "/projects/"+p.Name+"/restart", api.StopRequest{Services: []string{r.service}}, g.newProgress("Restarting"), nil)
	case spec.WatchSyncExec:
		var env []string
		for k, v := range r.Exec.Environment {
			if v != nil {
				env = append(env, k+"="+*v)
			}
		}
		req := api.ExecRequest{Service: r.service, Cmd: r.Exec.Command, User: r.Exec.User, Workdir: r.Exec.WorkingDir, Env: env}
		err := runExec(ctx, c, p.Name, req, strings.NewReader(""), g.stdout, g.stderr)
		var status exitStatus
		if errors.As(err, &status) {
			return fmt.Errorf("exec %s: exit code %d", strings.Join(r.Exec.Command, " "), int(status))
		}
		return err
	}
	return nil
}

// syncPaths copies changed files into every running container of the
// rule's service, under the rule's target; a file that is gone is
// removed there.
func (g *globalOptions) syncPaths(ctx context.Context, c *api.Client, project string, r watchRule, paths []string) error {
	cs, err := g.containers(ctx, c, project)
	if err != nil {
		return err
	}
	var errs []error
	for _, ct := range cs {
		if ct.Service != r.service || ct.State != "running" || ct.OneOff {
			continue
		}
		for _, file := range paths {
			rel, err := filepath.Rel(r.Path, file)
			if err != nil {
				continue
			}
			target := path.Join(r.Target, filepath.ToSlash(rel))
			if _, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) {
				req := api.ExecRequest{Service: r.service, Index: ct.Number, Cmd: []string{"rm", "-rf", target}}
				errs = append(errs, runExec(ctx, c, project, req, strings.NewReader(""), io.Discard, io.Discard))
				continue
			}
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(archive.Tar(pw, file, path.Base(target), false)) }()
			// Into the parent, which is a directory: a directory that
			// changed replaces its copy instead of landing inside it.
			errs = append(errs, c.CopyTo(ctx, project, api.CopyTarget{Service: r.service, Index: ct.Number, Path: path.Dir(target)}, pr))
			pr.Close()
		}
	}
	return errors.Join(errs...)
}

// imageID is the ID of the image ref names, or "" when there is none.
func imageID(ctx context.Context, c *api.Client, ref string) string {
	var in struct {
		ID string `json:"Id"`
	}
	if err := c.Do(ctx, "GET", "/images/inspect/"+api.EscapeRef(ref), nil, &in); err != nil {
		return ""
	}
	return in.ID
}

// pruneReplaced removes the image id once a rebuild took its name and no
// other name is left on it, as compose's watch --prune removes the
// dangling images of its rebuilds. An image a container still uses
// stays: the engine refuses, and the watch goes on.
func (g *globalOptions) pruneReplaced(ctx context.Context, c *api.Client, id string) {
	var imgs []api.ImageSummary
	if err := c.Do(ctx, "GET", "/images", nil, &imgs); err != nil {
		return
	}
	for _, img := range imgs {
		if img.ID == id && len(img.RepoTags) == 0 {
			var rep api.ImageRemoveReport
			if err := c.Do(ctx, "DELETE", "/images/"+api.EscapeRef(id), nil, &rep); err != nil && !errors.Is(err, errdefs.ErrFailedPrecondition) {
				fmt.Fprintf(g.stderr, "WARN[0000] prune image %s: %v\n", id, err)
			}
		}
	}
}
