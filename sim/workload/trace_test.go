package workload

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestReadTrace(t *testing.T) {
	in := "TIMESTAMP,ContextTokens,GeneratedTokens\n" +
		"2023-11-16 18:17:03.9799600,4808,10\n" +
		"2023-11-16 18:17:04.0319600,3180,8\n" +
		"2023-11-16 18:17:05.5,110,27\n"
	reqs, err := ReadTrace(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Request{{0, 4808, 10}, {52 * time.Millisecond, 3180, 8}, {1520040 * time.Microsecond, 110, 27}}
	if len(reqs) != len(want) {
		t.Fatalf("got %d requests", len(reqs))
	}
	for i := range want {
		if reqs[i] != want[i] {
			t.Errorf("request %d = %+v, want %+v", i, reqs[i], want[i])
		}
	}
}

func TestReadTraceRefusesBadRows(t *testing.T) {
	const header = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
	const good = "2023-11-16 18:17:03.9799600,4808,10\n"
	for _, tc := range []struct{ in, want string }{
		{"", "trace is empty"},
		{"TIMESTAMP,Tokens\n", "line 1: header \"TIMESTAMP,Tokens\" lacks column"},
		{header, "no requests"},
		{header + good + "yesterday,1,2\n", `trace line 3: TIMESTAMP "yesterday"`},
		{header + good + "2023-11-16 18:17:04,-1,2\n", `trace line 3: ContextTokens: "-1"`},
		{header + good + "2023-11-16 18:17:04,1,2.5\n", `trace line 3: GeneratedTokens: "2.5"`},
		{header + good + "2023-11-16 18:17:04,1,99999999999\n", "trace line 3: GeneratedTokens"},
		{header + good + "2023-11-16 18:17:04,1\n", "trace line 3: 2 columns, want at least 3"},
		{header + good + "2023-11-16 18:17:01,1,2\n", "trace line 3: TIMESTAMP 2023-11-16 18:17:01 is before the previous row's"},
		{header + good + "\"2023-11-16 18:17:04,1,2\n", "trace: "},
	} {
		_, err := ReadTrace(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadTrace(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestReadTraceAzureCode(t *testing.T) {
	f, err := os.Open("../testdata/azure-llm-inference-2023-code.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reqs, err := ReadTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 8819 || Span(reqs) < 57*time.Minute || Span(reqs) > 58*time.Minute {
		t.Errorf("%d requests over %s, want the trace's 8819 over 57 min", len(reqs), Span(reqs))
	}
}
