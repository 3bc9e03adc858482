package proxy

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/inferscale/inferscale/agent/measure"
)

// TestEventStreamTimePerOutputToken feeds scanEvents the writes of an event stream, each at
// its time, and reads the time per output token back.
func TestEventStreamTimePerOutputToken(t *testing.T) {
	type write struct {
		at   time.Duration
		body string
	}
	for _, tc := range []struct {
		name   string
		writes []write
		events int
		want   time.Duration // 0: none
	}{
		{"one event per write, 30 ms apart, then [DONE]",
			[]write{{100 * time.Millisecond, "data: a\n\n"}, {130 * time.Millisecond, "data: b\n\n"}, {160 * time.Millisecond, "data: c\n\n"}, {190 * time.Millisecond, "data: d\n\n"}, {190 * time.Millisecond, "data: [DONE]\n\n"}},
			4, 30 * time.Millisecond},
		{"two events in one write count as two",
			[]write{{100 * time.Millisecond, "data: a\n\n"}, {160 * time.Millisecond, "data: b\n\ndata: c\n\n"}},
			3, 30 * time.Millisecond},
		{"CRLF lines, an event split across writes",
			[]write{{100 * time.Millisecond, "data: a\r\n\r\nda"}, {120 * time.Millisecond, "ta: b\r"}, {150 * time.Millisecond, "\n\r\n"}},
			2, 50 * time.Millisecond},
		{"multi-line events and blank lines between them",
			[]write{{100 * time.Millisecond, "\n\nevent: token\ndata: a\n\n\n"}, {140 * time.Millisecond, "id: 2\ndata: b\n\n"}},
			2, 40 * time.Millisecond},
		{"keep-alive comments are no events",
			[]write{{100 * time.Millisecond, "data: a\n\n"}, {500 * time.Millisecond, ": ping\n\n"}, {900 * time.Millisecond, ":\n\n"}},
			1, 0},
		{"one event: no time per token",
			[]write{{100 * time.Millisecond, "data: all of it\n\n"}, {100 * time.Millisecond, "data: [DONE]\n\n"}},
			1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			clk := clocktesting.NewFakePassiveClock(start)
			w := &responseWriter{rec: measure.New(clk, nil), start: start, stream: true}
			for _, wr := range tc.writes {
				clk.SetTime(start.Add(wr.at))
				w.scanEvents([]byte(wr.body))
			}
			got, ok := w.timePerOutputToken()
			if w.events != tc.events || ok != (tc.want > 0) || got != tc.want {
				t.Errorf("%d events, time per token %v (%v); want %d, %v", w.events, got, ok, tc.events, tc.want)
			}
		})
	}
}

func TestIsEventStream(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/event-stream": true, "text/event-stream; charset=utf-8": true, "Text/Event-Stream": true,
		"application/json": false, "": false, "text/event-stream-x": false,
	} {
		if got := isEventStream(ct); got != want {
			t.Errorf("isEventStream(%q) = %v, want %v", ct, got, want)
		}
	}
}

// BenchmarkScanEvents is what an event stream's write costs the agent beyond the copy: one
// OpenAI-style token event of about 200 bytes.
func BenchmarkScanEvents(b *testing.B) {
	event := []byte(`data: {"id":"cmpl-7f9c","object":"text_completion","created":1764670000,"model":"meta-llama/Llama-3.1-8B-Instruct","choices":[{"index":0,"text":" token","logprobs":null,"finish_reason":null}]}` + "\n\n")
	w := &responseWriter{rec: measure.New(clocktesting.NewFakePassiveClock(time.Unix(0, 0)), nil), start: time.Unix(0, 0), stream: true}
	b.SetBytes(int64(len(event)))
	for b.Loop() {
		w.scanEvents(event)
	}
}
