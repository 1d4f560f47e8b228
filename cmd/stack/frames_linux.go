package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/stack-dev/stack/api"
)

// terminalOf returns stdin as a terminal when a pseudo-TTY is wanted and
// stdin is one, or nil.
func terminalOf(stdin io.Reader, tty bool) *os.File {
	in, _ := stdin.(*os.File)
	if !tty || in == nil || !term.IsTerminal(int(in.Fd())) {
		return nil
	}
	return in
}

// terminalSize is the size of t, zero when unknown.
func terminalSize(t *os.File) (uint16, uint16) {
	if t == nil {
		return 0, 0
	}
	w, h, err := term.GetSize(int(t.Fd()))
	if err != nil {
		return 0, 0
	}
	return uint16(w), uint16(h)
}

// relaySession drives a started exec or run: with a terminal, ours goes
// raw and follows its resizes; our stdin goes to the process when
// sendStdin; output frames go to stdout and stderr until the exit frame,
// whose code becomes ours.
func relaySession(fc *api.FrameConn, t *os.File, sendStdin bool, stdin io.Reader, stdout, stderr io.Writer) error {
	if t != nil {
		old, err := term.MakeRaw(int(t.Fd()))
		if err != nil {
			return fmt.Errorf("raw terminal: %w", err)
		}
		defer term.Restore(int(t.Fd()), old)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if w, h := terminalSize(t); w > 0 {
					fc.Write(api.FrameResize, api.Resize(w, h))
				}
			}
		}()
	}
	if sendStdin {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := stdin.Read(buf)
				if n > 0 && fc.Write(api.FrameStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					fc.Write(api.FrameCloseStdin, nil)
					return
				}
			}
		}()
	}
	return relayFrames(fc, stdout, stderr)
}

// relayFrames copies output frames until the exit frame, whose code it
// returns as an exitStatus.
func relayFrames(fc *api.FrameConn, stdout, stderr io.Writer) error {
	for {
		kind, payload, err := fc.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the daemon closed the connection before the command exited")
			}
			return err
		}
		switch kind {
		case api.FrameStdout:
			stdout.Write(payload)
		case api.FrameStderr:
			stderr.Write(payload)
		case api.FrameError:
			return commandFailure(api.ParseErrorFrame(payload))
		case api.FrameExit:
			if code := api.ParseExit(payload); code != 0 {
				return exitStatus(code)
			}
			return nil
		}
	}
}

// commandFailure gives a command of exec or run that could not be run
// docker's exit codes: 127 when it does not exist, 126 when it cannot be
// executed.
func commandFailure(err error) error {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return &commandError{code: 127, msg: err.Error()}
	case errors.Is(err, fs.ErrPermission):
		return &commandError{code: 126, msg: err.Error()}
	}
	return err
}
