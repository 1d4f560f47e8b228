package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/archive"
	"github.com/stack-dev/stack/internal/errdefs"
)

func newCpCommand(g *globalOptions) *cobra.Command {
	var o struct {
		all, archive, followLink bool
		index                    int
	}
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\n\tstack cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH",
		Short: "Copy files/folders between a service container and the local filesystem",
		Args:  cobra.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			names, _ := g.completeServices(cmd, nil, toComplete)
			for i := range names {
				names[i] += ":"
			}
			return names, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all {
				return fmt.Errorf("cp --all: %w: copies go to or from one container (use --index)", errdefs.ErrNotImplemented)
			}
			srcSvc, srcPath, srcIn := splitCopyArg(args[0])
			dstSvc, dstPath, dstIn := splitCopyArg(args[1])
			switch {
			case srcIn && dstIn:
				return usageError{errors.New("copying between services is not supported")}
			case !srcIn && !dstIn:
				return usageError{errors.New("one of SRC_PATH and DEST_PATH must be SERVICE:PATH")}
			}
			name, p, err := g.projectOrName()
			if err != nil {
				return err
			}
			svc := srcSvc
			if dstIn {
				svc = dstSvc
			}
			if err := checkServices(p, []string{svc}); err != nil {
				return err
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if srcIn {
				t := api.CopyTarget{Service: srcSvc, Index: o.index, Path: absInContainer(srcPath), FollowLink: o.followLink}
				rc, err := c.CopyFrom(ctx, name, t)
				if err != nil {
					return err
				}
				defer rc.Close()
				if dstPath == "-" {
					_, err := io.Copy(g.stdout, rc)
					return err
				}
				dir, opts := dstPath, archive.Options{KeepOwner: o.archive}
				if fi, err := os.Stat(dstPath); err != nil || !fi.IsDir() {
					dir, opts.Rename = filepath.Dir(dstPath), filepath.Base(dstPath)
				}
				if err := archive.Untar(rc, dir, opts); err != nil {
					return fmt.Errorf("copy %s to %s: %w", args[0], dstPath, err)
				}
				fmt.Fprintf(g.stderr, "Copied %s to %s\n", args[0], dstPath)
				return nil
			}
			t := api.CopyTarget{Service: dstSvc, Index: o.index, Path: absInContainer(dstPath), KeepOwner: o.archive}
			var r io.Reader
			if srcPath == "-" {
				r = g.stdin
			} else {
				if _, err := os.Lstat(srcPath); err != nil {
					return fmt.Errorf("copy %s: %w", srcPath, err)
				}
				pr, pw := io.Pipe()
				go func() {
					pw.CloseWithError(archive.Tar(pw, srcPath, filepath.Base(filepath.Clean(srcPath)), o.followLink))
				}()
				r = pr
			}
			if err := c.CopyTo(ctx, name, t, r); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "Copied %s to %s\n", srcPath, args[1])
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "include containers created by the run command")
	cmd.Flags().BoolVarP(&o.archive, "archive", "a", false, "archive mode (copy all uid/gid information)")
	cmd.Flags().BoolVarP(&o.followLink, "follow-link", "L", false, "always follow symbol link in SRC_PATH")
	cmd.Flags().IntVar(&o.index, "index", 0, "index of the container if service has multiple replicas")
	return cmd
}

// splitCopyArg reads SERVICE:PATH; a path with no colon, or one that
// starts like a local path (./a:b, /x:y), is local.
func splitCopyArg(arg string) (service, p string, inContainer bool) {
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return "", arg, false
	}
	s, rest, ok := strings.Cut(arg, ":")
	if !ok || s == "" {
		return "", arg, false
	}
	return s, rest, true
}

// absInContainer makes a container path absolute, relative to /, as
// docker does for a container without a working directory.
func absInContainer(p string) string {
	if p == "" {
		return "/"
	}
	return path.Clean("/" + p)
}
