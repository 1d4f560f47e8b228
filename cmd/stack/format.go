package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/stack-dev/stack/internal/errdefs"
)

// An output format, as the docker CLI and compose read --format:
//
//	table            the command's default columns, with headers
//	table TEMPLATE   a Go template per row, in columns, with headers
//	json             compose's JSON: one object per line, or one array
//	TEMPLATE         a Go template per row ({{.Name}} {{.State}})
//
// In a template, \t and \n stand for a tab and a newline, and the
// functions of docker's templates are there: json, join, split, lower,
// upper, title, pad, truncate, println.
type outputFormat struct {
	table bool
	json  bool
	tmpl  *template.Template
	text  string // the template text, for the headers of a table
}

// jsonShape says how a command prints --format json: one object per
// line (ps, stats) or one array (ls, images), as compose does.
type jsonShape int

const (
	jsonLines jsonShape = iota
	jsonArray
)

// columns are the rows a command prints, for a formatter: the default
// table template, the header of each field, and the JSON shape.
type columns struct {
	defaultTable string
	headers      map[string]string
	shape        jsonShape
}

// parseFormat reads a --format value. An empty one is the default table.
func parseFormat(value string) (outputFormat, error) {
	v := strings.TrimSpace(value)
	switch {
	case v == "" || v == "table" || v == "pretty":
		return outputFormat{table: true}, nil
	case strings.EqualFold(v, "json"):
		return outputFormat{json: true}, nil
	}
	f := outputFormat{}
	if rest, ok := strings.CutPrefix(v, "table "); ok {
		f.table, v = true, strings.TrimSpace(rest)
	}
	v = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(v)
	t, err := template.New("").Funcs(templateFuncs).Parse(v)
	if err != nil {
		return f, fmt.Errorf("--format: template parsing error: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	f.tmpl, f.text = t, v
	return f, nil
}

var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(b.String()), nil
	},
	"join":  strings.Join,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"pad": func(s string, before, after int) string {
		return strings.Repeat(" ", before) + s + strings.Repeat(" ", after)
	},
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
	"println": fmt.Sprintln,
}

// write prints rows (structs whose exported fields carry compose's
// keys) in format f.
func (f outputFormat) write(w io.Writer, cols columns, rows []any) error {
	if f.json {
		if cols.shape == jsonArray {
			if rows == nil {
				rows = []any{}
			}
			return encodeJSONLine(w, rows)
		}
		for _, r := range rows {
			if err := encodeJSONLine(w, r); err != nil {
				return err
			}
		}
		return nil
	}
	t, text := f.tmpl, f.text
	if t == nil {
		text = strings.NewReplacer(`\t`, "\t").Replace(strings.TrimPrefix(cols.defaultTable, "table "))
		t = template.Must(template.New("").Funcs(templateFuncs).Parse(text))
	}
	out := w
	var tw *tabwriter.Writer
	if f.table {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		out = tw
		if err := t.Execute(out, cols.headerRow(text)); err != nil {
			return fmt.Errorf("--format: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		fmt.Fprintln(out)
	}
	for _, r := range rows {
		var b bytes.Buffer
		if err := t.Execute(&b, r); err != nil {
			return fmt.Errorf("--format: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		b.WriteByte('\n')
		out.Write(b.Bytes())
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// headerRow is what a table's template is run on for its header line:
// each field's header, or the field's name in capitals.
func (c columns) headerRow(text string) map[string]string {
	h := map[string]string{}
	for k, v := range c.headers {
		h[k] = v
	}
	// Fields the template names but the command has no header for.
	for _, part := range strings.Split(text, "{{")[1:] {
		name, _, _ := strings.Cut(part, "}}")
		name = strings.TrimSpace(name)
		if f, ok := strings.CutPrefix(name, "."); ok && !strings.ContainsAny(f, " .") {
			if _, known := h[f]; !known {
				h[f] = strings.ToUpper(f)
			}
		}
	}
	return h
}

func encodeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
