package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
)

// printServerVersion adds the daemon's version to `stack version`. It
// never starts a daemon: one that is not running is reported as such.
func printServerVersion(ctx context.Context, g *globalOptions) {
	fmt.Fprintln(g.stdout, "Server:")
	c, err := g.newClient()
	if err != nil {
		fmt.Fprintf(g.stdout, " error: %v\n", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var v api.VersionInfo
	err = c.Do(ctx, "GET", "/version", nil, &v)
	switch {
	case errors.Is(err, errdefs.ErrUnavailable) && strings.HasPrefix(g.host, "tcp://"):
		fmt.Fprintf(g.stdout, " error: %v\n", g.remoteUnreachable(ctx, err))
	case errors.Is(err, errdefs.ErrUnavailable):
		fmt.Fprintf(g.stdout, " not running: no daemon answers on %s (engine commands start it)\n", g.host)
	case err != nil:
		fmt.Fprintf(g.stdout, " error: %v\n", err)
	default:
		fmt.Fprintf(g.stdout, " version: %s\n API version: %s\n", v.Version, v.APIVersion)
	}
}

// binarySize prints a byte count in binary units, as docker stats does
// for memory ("1.5MiB").
func binarySize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

// confirm asks a yes/no question on w and reads the answer from r; only
// "y" or "yes" is a yes, as docker's prompts.
func confirm(r io.Reader, w io.Writer, question string) bool {
	fmt.Fprintf(w, "%s\nAre you sure you want to continue? [y/N] ", strings.TrimRight(question, "\n"))
	var answer string
	if _, err := fmt.Fscanln(r, &answer); errors.Is(err, io.EOF) {
		fmt.Fprintln(w) // no answer (EOF): end the prompt's line
	}
	return answer == "y" || answer == "Y" || answer == "yes"
}
