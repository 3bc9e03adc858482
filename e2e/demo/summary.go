package demo

import (
	"fmt"
	"io"
	"strings"
)

// Summary is what a run achieved.
type Summary struct {
	Duration        float64 // seconds sampled
	SLOAttainment   float64 // fraction of loaded samples whose p99 met the target
	ReplicaSeconds  float64 // ready replicas integrated over time
	PeakReady       int32
	FinalReady      int32
	ScaleUps        int
	ScaleDowns      int
	Events          []string // "t=42s desired 1 → 3: reason"
	MaxOfferedRPS   float64
	TargetP99Ms     float64
	LoadedSamples   int
	SamplesOverSLO  int
	ScaledUpUnder   bool // replicas rose above the first sample's while load was on
	ScaledBackDown  bool // and came back down by the end
	InitialReplicas int32
}

// Summarize computes the summary of samples taken in time order.
func Summarize(samples []Sample, targetP99Ms float64) Summary {
	s := Summary{TargetP99Ms: targetP99Ms}
	if len(samples) == 0 {
		return s
	}
	s.InitialReplicas = samples[0].Ready
	s.Duration = samples[len(samples)-1].T - samples[0].T
	for i, cur := range samples {
		if cur.Ready > s.PeakReady {
			s.PeakReady = cur.Ready
		}
		if cur.OfferedRPS > s.MaxOfferedRPS {
			s.MaxOfferedRPS = cur.OfferedRPS
		}
		if cur.OfferedRPS > 0 && cur.P99Ms > 0 {
			s.LoadedSamples++
			if cur.P99Ms > targetP99Ms {
				s.SamplesOverSLO++
			}
		}
		if i == 0 {
			continue
		}
		prev := samples[i-1]
		s.ReplicaSeconds += float64(prev.Ready) * (cur.T - prev.T)
		if cur.Desired != prev.Desired {
			if cur.Desired > prev.Desired {
				s.ScaleUps++
			} else {
				s.ScaleDowns++
			}
			s.Events = append(s.Events, fmt.Sprintf("t=%.0fs desired %d → %d: %s", cur.T, prev.Desired, cur.Desired, cur.Reason))
		}
	}
	if s.LoadedSamples > 0 {
		s.SLOAttainment = 1 - float64(s.SamplesOverSLO)/float64(s.LoadedSamples)
	}
	s.FinalReady = samples[len(samples)-1].Ready
	s.ScaledUpUnder = s.PeakReady > s.InitialReplicas
	s.ScaledBackDown = s.ScaledUpUnder && s.FinalReady < s.PeakReady
	return s
}

// Write prints the summary for a person.
func (s Summary) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "run: %.0fs, peak offered load %.0f req/s\n", s.Duration, s.MaxOfferedRPS)
	fmt.Fprintf(&b, "SLO (p99 ≤ %.0fms): met in %.1f%% of %d loaded seconds\n", s.TargetP99Ms, 100*s.SLOAttainment, s.LoadedSamples)
	fmt.Fprintf(&b, "replicas: %d at start, %d at peak, %d at the end; %.0f replica-seconds\n", s.InitialReplicas, s.PeakReady, s.FinalReady, s.ReplicaSeconds)
	fmt.Fprintf(&b, "scale events: %d up, %d down\n", s.ScaleUps, s.ScaleDowns)
	for _, e := range s.Events {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
