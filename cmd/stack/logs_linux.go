package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/stack-dev/stack/api"
)

// logOptions are what logs (and a foreground up) print.
type logOptions struct {
	services                              []string
	tail, since                           string
	until                                 time.Time
	index                                 int
	follow, timestamps, noPrefix, noColor bool
}

func newLogsCommand(g *globalOptions) *cobra.Command {
	var o logOptions
	var since, until string
	cmd := &cobra.Command{
		Use:               "logs [OPTIONS] [SERVICE...]",
		Short:             "View output from containers",
		ValidArgsFunction: g.completeServices,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, p, err := g.projectOrName()
			if err != nil {
				return err
			}
			if err := checkServices(p, args); err != nil {
				return err
			}
			if o.index > 0 && len(args) != 1 {
				return usageError{errors.New("--index requires one service to be selected")}
			}
			if since != "" {
				t, err := parseTime(since, "--since")
				if err != nil {
					return err
				}
				o.since = t.Format(time.RFC3339Nano)
			}
			if until != "" {
				if o.until, err = parseTime(until, "--until"); err != nil {
					return err
				}
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if o.follow {
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
				defer stop()
			}
			o.services = args
			return g.streamLogs(ctx, c, name, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "follow log output")
	f.IntVar(&o.index, "index", 0, "index of the container if service has multiple replicas")
	f.BoolVar(&o.noColor, "no-color", false, "produce monochrome output")
	f.BoolVar(&o.noPrefix, "no-log-prefix", false, "don't print prefix in logs")
	f.StringVar(&since, "since", "", "show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	f.StringVarP(&o.tail, "tail", "n", "all", "number of lines to show from the end of the logs for each container")
	f.BoolVarP(&o.timestamps, "timestamps", "t", false, "show timestamps")
	f.StringVar(&until, "until", "", "show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	g.registerIndexCompletion(cmd)
	return cmd
}

// parseTime reads a --since or --until value: a duration ago (10m), an
// RFC 3339 time, a date, or Unix seconds, as docker does.
func parseTime(s, flag string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(secs*1e9)), nil
	}
	return time.Time{}, usageError{fmt.Errorf("%s %q: want a duration (10m), an RFC 3339 time or Unix seconds", flag, s)}
}

// logName is the name a container's lines and exit are shown under, as
// compose shows them (getContainerNameWithoutProject): "web-1" for the
// default name of a replica, project-web-1; any other name, a
// container_name's or a one-off's, whole.
func logName(project, service, container string) string {
	if n, ok := strings.CutPrefix(container, project+"-"+service+"-"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		return container[len(project)+1:]
	}
	return container
}

// rfc3339NanoFixed is the layout of the timestamps of logs -t and of up
// --timestamps: RFC 3339 with nine digits of nanoseconds always, so that
// lines line up, as docker's (jsonmessage.RFC3339NanoFixed).
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// logColors are the colours of the per-service prefixes, in the order
// docker compose uses them.
var logColors = []termenv.ANSIColor{termenv.ANSICyan, termenv.ANSIYellow, termenv.ANSIGreen, termenv.ANSIMagenta, termenv.ANSIBlue,
	termenv.ANSIBrightCyan, termenv.ANSIBrightYellow, termenv.ANSIBrightGreen, termenv.ANSIBrightMagenta, termenv.ANSIBrightBlue}

// streamLogs prints the project's logs, each line prefixed with its
// container's name (logName) padded to the longest one, coloured per
// service.
func (g *globalOptions) streamLogs(ctx context.Context, c *api.Client, project string, o logOptions) error {
	q := url.Values{}
	q.Set("tail", o.tail)
	if o.since != "" {
		q.Set("since", o.since)
	}
	if o.follow {
		q.Set("follow", "true")
	}
	for _, s := range o.services {
		q.Add("service", s)
	}
	path := "/projects/" + project + "/logs?" + q.Encode()
	color := !o.noColor && g.color(g.stdout)
	colors := map[string]termenv.ANSIColor{}
	out := termenv.NewOutput(g.stdout, termenv.WithProfile(termenv.ANSI))
	// The width of the prefixes: the longest name of the containers
	// there are now, so that lines line up from the first one.
	width := 0
	if cs, err := g.containers(ctx, c, project); err == nil {
		for _, ct := range cs {
			if len(o.services) == 0 || containsString(o.services, ct.Service) {
				width = max(width, len(logName(project, ct.Service, ct.Name)))
			}
		}
	}
	err := c.Stream(ctx, "GET", path, nil, func(raw json.RawMessage) error {
		var l api.LogLine
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		if l.Container == "" && l.Line == "" {
			var e struct{ Error api.Error }
			if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
				body, _ := json.Marshal(e.Error)
				return api.FromHTTP(500, body)
			}
		}
		if !o.until.IsZero() && l.Time.After(o.until) {
			if o.follow {
				return errLogsUntil
			}
			return nil
		}
		if o.index > 0 && !strings.HasSuffix(l.Container, "-"+strconv.Itoa(o.index)) {
			return nil
		}
		line := strings.TrimSuffix(l.Line, "\n")
		if o.timestamps {
			line = l.Time.Format(rfc3339NanoFixed) + " " + line
		}
		if o.noPrefix {
			fmt.Fprintln(g.stdout, line)
			return nil
		}
		shown := logName(project, l.Service, l.Container)
		width = max(width, len(shown))
		prefix := fmt.Sprintf("%-*s  | ", width, shown)
		if color {
			col, ok := colors[l.Service]
			if !ok {
				col = logColors[len(colors)%len(logColors)]
				colors[l.Service] = col
			}
			prefix = out.String(prefix).Foreground(col).String()
		}
		fmt.Fprintln(g.stdout, prefix+line)
		return nil
	})
	if errors.Is(err, context.Canceled) || errors.Is(err, errLogsUntil) {
		return nil
	}
	return err
}

// errLogsUntil ends a followed stream at --until.
var errLogsUntil = errors.New("until reached")

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
