package logging

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"
)

func TestLevels(t *testing.T) {
	for _, c := range []struct {
		level string
		want  []string // messages written, of error, info, V(1), V(3)
	}{
		{"error", []string{"e"}},
		{"info", []string{"e", "i"}},
		{"0", []string{"e", "i"}},
		{"debug", []string{"e", "i", "v1"}},
		{"3", []string{"e", "i", "v1", "v3"}},
	} {
		var buf bytes.Buffer
		log, flush, err := Options{Level: c.level, Format: FormatJSON}.New(&buf)
		if err != nil {
			t.Fatalf("%s: %v", c.level, err)
		}
		log.Error(nil, "e")
		log.Info("i", "key", "value")
		log.V(1).Info("v1")
		log.V(3).Info("v3")
		flush()
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%s: line %q is not JSON: %v", c.level, line, err)
			}
			got = append(got, m["msg"].(string))
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("--log-level=%s wrote %v, want %v", c.level, got, c.want)
		}
	}
}

func TestConsoleFormat(t *testing.T) {
	var buf bytes.Buffer
	log, flush, err := Options{Level: "info", Format: FormatConsole}.New(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("started", "version", "v1")
	flush()
	if out := buf.String(); !strings.Contains(out, "INFO") || !strings.Contains(out, "started") || !strings.Contains(out, `"version": "v1"`) || strings.HasPrefix(out, "{") {
		t.Errorf("console output %q", out)
	}
}

func TestInvalidOptionsNameTheFlag(t *testing.T) {
	for _, o := range []Options{{Level: "verbose", Format: FormatJSON}, {Level: "11", Format: FormatJSON}, {Level: "-1", Format: FormatJSON}, {Level: "info", Format: "text"}} {
		_, _, err := o.New(&bytes.Buffer{})
		want := "--log-level"
		if o.Level == "info" {
			want = "--log-format"
		}
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%+v: error %v, want one naming %s", o, err, want)
		}
	}
}

func TestBindFlags(t *testing.T) {
	o := Defaults()
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse([]string{"--log-level=debug", "--log-format=console"}); err != nil {
		t.Fatal(err)
	}
	if o != (Options{Level: "debug", Format: FormatConsole}) {
		t.Errorf("parsed %+v", o)
	}
}
