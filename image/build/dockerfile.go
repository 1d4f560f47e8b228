package build

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/stack-dev/stack/internal/errdefs"
)

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	name     string // for errors: "Dockerfile"
	escape   rune
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
}

// parseDockerfile parses src with buildkit's parser. Syntax errors name
// the file and line: "Dockerfile:3: unknown instruction: RUNN".
func parseDockerfile(name string, src []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, locate(name, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, locate(name, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM instruction: a Dockerfile starts with FROM: %w", name, errdefs.ErrInvalidArgument)
	}
	return &dockerfile{name: name, escape: res.EscapeToken, stages: stages, metaArgs: metaArgs}, nil
}

// locate turns a buildkit error into one that names name:line and wraps
// errdefs.ErrInvalidArgument.
func locate(name string, err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Errorf("%s:%d: %s: %w", name, le.Locations[0][0].Start.Line, errorText(le.Unwrap()), errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s: %s: %w", name, errorText(err), errdefs.ErrInvalidArgument)
}

// errorText drops the location wrappers buildkit nests in messages.
func errorText(err error) string {
	for {
		var le *parser.LocationError
		if errors.As(err, &le) && le.Unwrap() != nil && le.Unwrap() != err {
			err = le.Unwrap()
			continue
		}
		return err.Error()
	}
}

// line returns the first line of a command's location.
func line(locs []parser.Range) int {
	if len(locs) == 0 {
		return 0
	}
	return locs[0].Start.Line
}

// stageIndex finds a stage by name (case-insensitive, as docker) or by
// index, among the stages before before.
func (d *dockerfile) stageIndex(ref string, before int) (int, bool) {
	for i := 0; i < before && i < len(d.stages); i++ {
		if d.stages[i].Name != "" && strings.EqualFold(d.stages[i].Name, ref) {
			return i, true
		}
	}
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < before {
		return n, true
	}
	return -1, false
}

// buildPlan is which stages a target needs, in build order, and how many
// steps they have.
type buildPlan struct {
	order []int
	steps int
}

// plan resolves target (a stage name; "" for the last stage) and the
// stages it depends on through FROM and COPY --from, so stages the target
// does not need are skipped, as buildkit does.
func (d *dockerfile) plan(target string, meta map[string]string) (buildPlan, error) {
	lex := shell.NewLex(d.escape)
	t := len(d.stages) - 1
	if target != "" {
		i, ok := d.stageIndex(target, len(d.stages))
		if !ok {
			return buildPlan{}, fmt.Errorf("%s: target stage %q not found: name one of the stages (FROM ... AS name): %w", d.name, target, errdefs.ErrNotFound)
		}
		t = i
	}
	need := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		s := d.stages[i]
		base := s.BaseName
		if res, err := lex.ProcessWordWithMatches(base, envGetter(meta)); err == nil {
			base = res.Result
		}
		if j, ok := d.stageIndex(base, i); ok {
			visit(j)
		}
		for _, c := range s.Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
				if j, ok := d.stageIndex(cp.From, i); ok {
					visit(j)
				}
			}
		}
	}
	visit(t)
	var p buildPlan
	for i := range d.stages[:t+1] {
		if need[i] {
			p.order = append(p.order, i)
			p.steps += 1 + len(d.stages[i].Commands)
		}
	}
	return p, nil
}
