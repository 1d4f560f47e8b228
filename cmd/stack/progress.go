package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/muesli/termenv"
	"golang.org/x/term"
)

// The progress of an operation (up, down, stop, build...) is a list of
// resources, "Container demo-web-1", "Network demo_default", "Image
// demo-php", each with a status that changes: Creating, then Created.
// It goes to stderr, as compose's does, in one of four modes (--progress):
//
//	tty    one line per resource, redrawn in place: a spinner and the time
//	       spent while it works, ✔ and the time it took once done, under a
//	       "[+] Running 3/5" header
//	plain  one line per change, and the output of builds as it comes
//	json   one JSON object per change, with compose's keys
//	quiet  nothing
//
// auto (the default) is tty when stderr is a terminal and colours are not
// turned off (--ansi never, NO_COLOR), plain otherwise.

// progressStatus says whether a resource is still being worked on.
type progressStatus int

const (
	statusWorking progressStatus = iota
	statusDone
	statusWarning
	statusError
)

// String is the status as compose's JSON progress names it.
func (s progressStatus) String() string {
	return [...]string{"Working", "Done", "Warning", "Error"}[s]
}

// progressEvent is a change of one resource.
type progressEvent struct {
	ID      string // "Container demo-web-1"
	Text    string // "Started"
	Details string // optional: a build step, a reason
	Status  progressStatus
}

// progress receives the changes of an operation. It is safe for
// concurrent use: parallel builds report to one.
type progress interface {
	Event(progressEvent)
	// Output is a line of a build's output: printed in plain mode,
	// shown as the resource's details in tty mode.
	Output(id, line string)
	// Warn is a warning that is not about one resource.
	Warn(msg string)
	// Done ends the display; it may be called more than once.
	Done()
}

// newProgress returns the display of --progress for an operation named
// like compose's header ("Running", "Building").
func (g *globalOptions) newProgress(operation string) progress {
	mode := g.progress
	if mode == "" || mode == "auto" {
		mode = "plain"
		if g.ansi != "never" && isTerminal(g.stderr) {
			mode = "tty"
		}
	}
	switch mode {
	case "tty":
		p := newTTYProgress(g.stderr, operation, g.color(g.stderr), time.Now, terminalDims(g.stderr))
		go p.run()
		return p
	case "json":
		return &jsonProgress{w: g.stderr}
	case "quiet", "none":
		return quietProgress{}
	}
	return &plainProgress{w: g.stderr}
}

// terminalDims returns a function giving the terminal's size, 80x24 when
// unknown.
func terminalDims(w io.Writer) func() (int, int) {
	return func() (int, int) {
		if f, ok := w.(interface{ Fd() uintptr }); ok {
			if wd, ht, err := term.GetSize(int(f.Fd())); err == nil && wd > 0 && ht > 0 {
				return wd, ht
			}
		}
		return 80, 24
	}
}

type quietProgress struct{}

func (quietProgress) Event(progressEvent)   {}
func (quietProgress) Output(string, string) {}
func (quietProgress) Warn(string)           {}
func (quietProgress) Done()                 {}

// plainProgress prints one line per change: " Container demo-web-1  Started".
type plainProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *plainProgress) Event(e progressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := " " + e.ID + "  " + e.Text
	if e.Details != "" {
		line += " " + e.Details
	}
	fmt.Fprintln(p.w, line)
}

func (p *plainProgress) Output(id, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, line)
}

func (p *plainProgress) Warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "WARN[0000] %s\n", msg)
}

func (p *plainProgress) Done() {}

// jsonProgress prints compose's JSON progress messages, one per line.
type jsonProgress struct {
	mu sync.Mutex
	w  io.Writer
}

type jsonProgressMessage struct {
	ID      string `json:"id,omitempty"`
	Status  string `json:"status,omitempty"`
	Text    string `json:"text,omitempty"`
	Details string `json:"details,omitempty"`
	Level   string `json:"level,omitempty"`
	Msg     string `json:"msg,omitempty"`
}

func (p *jsonProgress) write(m jsonProgressMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	data, _ := json.Marshal(m)
	fmt.Fprintln(p.w, string(data))
}

func (p *jsonProgress) Event(e progressEvent) {
	p.write(jsonProgressMessage{ID: e.ID, Status: e.Status.String(), Text: e.Text, Details: e.Details})
}

func (p *jsonProgress) Output(id, line string) {
	p.write(jsonProgressMessage{ID: id, Status: statusWorking.String(), Text: "Building", Details: line})
}

func (p *jsonProgress) Warn(msg string) { p.write(jsonProgressMessage{Level: "warning", Msg: msg}) }
func (p *jsonProgress) Done()           {}

// ttyProgress redraws one line per resource in place.
type ttyProgress struct {
	mu        sync.Mutex
	out       *termenv.Output
	operation string
	now       func() time.Time
	dims      func() (int, int)
	ids       []string
	tasks     map[string]*progressTask
	lines     int // lines drawn by the last frame
	stop      chan struct{}
	stopped   bool
	spin      int
}

type progressTask struct {
	progressEvent
	start, end time.Time
}

// spinnerFrames are compose's.
var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// newTTYProgress starts a display that redraws itself every 100ms. now
// and dims are the clock and the terminal's size (tests pass fixed ones
// and draw frames themselves through render).
func newTTYProgress(w io.Writer, operation string, color bool, now func() time.Time, dims func() (int, int)) *ttyProgress {
	profile := termenv.Ascii
	if color {
		profile = termenv.ANSI
	}
	p := &ttyProgress{
		out:       termenv.NewOutput(w, termenv.WithProfile(profile), termenv.WithTTY(true)),
		operation: operation, now: now, dims: dims,
		tasks: map[string]*progressTask{}, stop: make(chan struct{}),
	}
	return p
}

// run redraws the display until Done; the caller starts it in a
// goroutine.
func (p *ttyProgress) run() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.mu.Lock()
			p.spin++
			p.render()
			p.mu.Unlock()
		}
	}
}

func (p *ttyProgress) Event(e progressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	t := p.tasks[e.ID]
	if t == nil {
		t = &progressTask{start: now}
		p.tasks[e.ID] = t
		p.ids = append(p.ids, e.ID)
	}
	if e.Status == statusWorking {
		// Working (again: Created, then Starting): the timer runs on
		// from the resource's first change, as compose's does.
		t.end = time.Time{}
	}
	t.progressEvent = e
	if e.Status != statusWorking && t.end.IsZero() {
		t.end = now
	}
	if !p.stopped {
		p.render()
	}
}

func (p *ttyProgress) Output(id, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.tasks[id]; t != nil && t.Status == statusWorking {
		t.Details = line
	}
}

// Warn prints above the display: the next frame is drawn below it.
func (p *ttyProgress) Warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.out, "WARN[0000] %s\n", msg)
	p.lines = 0
	if !p.stopped {
		p.render()
	}
}

// Done draws the last frame, where every resource shows how it ended.
func (p *ttyProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.stop)
	p.render()
	p.out.ShowCursor()
}

// clear moves the cursor back over the last frame, blanking it.
func (p *ttyProgress) clear() {
	if p.lines > 0 {
		p.out.CursorPrevLine(p.lines)
		for i := 0; i < p.lines; i++ {
			p.out.ClearLine()
			if i < p.lines-1 {
				p.out.CursorNextLine(1)
			}
		}
		if p.lines > 1 {
			p.out.CursorPrevLine(p.lines - 1)
		}
	}
}

// render draws the frame over the previous one.
func (p *ttyProgress) render() {
	if len(p.ids) == 0 {
		return
	}
	frame := p.frame()
	p.out.HideCursor()
	if p.lines > 0 {
		p.out.CursorPrevLine(p.lines)
	}
	for _, line := range frame {
		p.out.ClearLine()
		fmt.Fprintln(p.out, line)
	}
	for i := len(frame); i < p.lines; i++ {
		// The display shrank (it never does today): blank what is left.
		p.out.ClearLine()
		fmt.Fprintln(p.out)
	}
	if !p.stopped {
		p.out.ShowCursor()
	}
	p.lines = max(len(frame), p.lines)
}

// frame is the text of the display: the header, then a line per
// resource, cut to the terminal's size.
func (p *ttyProgress) frame() []string {
	width, height := p.dims()
	done := 0
	for _, t := range p.tasks {
		if t.Status != statusWorking {
			done++
		}
	}
	lines := []string{fmt.Sprintf("[+] %s %d/%d", p.operation, done, len(p.tasks))}
	ids := p.ids
	more := 0
	if maxLines := max(height-2, 1); len(ids) > maxLines {
		more = len(ids) - (maxLines - 1)
		ids = ids[:maxLines-1]
	}
	idWidth := 0
	for _, id := range ids {
		idWidth = max(idWidth, utf8.RuneCountInString(id))
	}
	now := p.now()
	timers := make([]string, len(ids))
	timerWidth := 0
	for i, id := range ids {
		t := p.tasks[id]
		end := now
		if t.Status != statusWorking {
			end = t.end
		}
		timers[i] = fmt.Sprintf("%.1fs", end.Sub(t.start).Seconds())
		timerWidth = max(timerWidth, len(timers[i]))
	}
	for i, id := range ids {
		t := p.tasks[id]
		mark := p.mark(t.Status)
		left := " " + mark + " " + id + strings.Repeat(" ", idWidth-utf8.RuneCountInString(id)) + "  " + p.colored(t.Text, t.Status)
		plainLeft := 5 + idWidth + utf8.RuneCountInString(t.Text)
		details := t.Details
		room := width - plainLeft - timerWidth - 2
		if details != "" {
			if room <= 4 {
				details = ""
			} else if utf8.RuneCountInString(details)+1 > room {
				details = truncateRunes(details, room-2) + "…"
			}
		}
		if details != "" {
			left += " " + details
			plainLeft += 1 + utf8.RuneCountInString(details)
		}
		pad := max(width-plainLeft-timerWidth-1, 1)
		timer := strings.Repeat(" ", timerWidth-len(timers[i])) + timers[i]
		lines = append(lines, left+strings.Repeat(" ", pad)+p.out.String(timer).Faint().String())
	}
	if more > 0 {
		lines = append(lines, fmt.Sprintf(" ... %d more", more))
	}
	return lines
}

func (p *ttyProgress) mark(s progressStatus) string {
	switch s {
	case statusDone:
		return p.out.String("✔").Foreground(termenv.ANSIGreen).String()
	case statusWarning:
		return p.out.String("!").Foreground(termenv.ANSIYellow).String()
	case statusError:
		return p.out.String("✘").Foreground(termenv.ANSIRed).String()
	}
	return p.out.String(spinnerFrames[p.spin%len(spinnerFrames)]).Foreground(termenv.ANSIBlue).String()
}

func (p *ttyProgress) colored(text string, s progressStatus) string {
	switch s {
	case statusDone, statusWorking:
		return p.out.String(text).Foreground(termenv.ANSIGreen).String()
	case statusWarning:
		return p.out.String(text).Foreground(termenv.ANSIYellow).String()
	}
	return p.out.String(text).Foreground(termenv.ANSIRed).String()
}

func truncateRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
