package demo

import (
	"encoding/xml"
	"strings"
	"testing"
)

func run() []Sample {
	return []Sample{
		{T: 0, OfferedRPS: 0, Desired: 1, Ready: 1},
		{T: 5, OfferedRPS: 40, P99Ms: 120, Desired: 1, Ready: 1},
		{T: 10, OfferedRPS: 150, P99Ms: 900, Desired: 3, Ready: 1, Reason: "p99 900ms > target 300ms"},
		{T: 15, OfferedRPS: 150, P99Ms: 280, Desired: 3, Ready: 3},
		{T: 20, OfferedRPS: 0, Desired: 1, Ready: 3, Reason: "queue depth 0/replica"},
		{T: 25, OfferedRPS: 0, Desired: 1, Ready: 1},
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize(run(), 300)
	if s.LoadedSamples != 3 || s.SamplesOverSLO != 1 {
		t.Fatalf("loaded %d, over SLO %d", s.LoadedSamples, s.SamplesOverSLO)
	}
	if s.ScaleUps != 1 || s.ScaleDowns != 1 || len(s.Events) != 2 {
		t.Fatalf("events: %+v", s)
	}
	// 1+1+1+3+3 replicas over five 5s steps.
	if s.ReplicaSeconds != 45 {
		t.Fatalf("replica-seconds %v", s.ReplicaSeconds)
	}
	if !s.ScaledUpUnder || !s.ScaledBackDown || s.PeakReady != 3 || s.FinalReady != 1 {
		t.Fatalf("scaling story: %+v", s)
	}
	var b strings.Builder
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "met in 66.7% of 3 loaded seconds") || !strings.Contains(b.String(), "t=10s desired 1 → 3: p99 900ms > target 300ms") {
		t.Fatalf("summary:\n%s", b.String())
	}
}

func TestWriteChartIsWellFormedSVG(t *testing.T) {
	var b strings.Builder
	if err := WriteChart(&b, run(), 300); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(b.String()))
	polylines := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 4 {
		t.Fatalf("want 4 series (offered, p99, desired, ready), got %d in\n%s", polylines, b.String())
	}
	if !strings.Contains(b.String(), "target 300") {
		t.Fatal("the SLO line is missing")
	}
}
