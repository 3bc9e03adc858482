// Package loadprofile parses load profiles in the form the demo, the load generator and the
// simulator share: comma-separated DURATION@RPS steps, e.g. "20s@2,40s@60,30s@200".
package loadprofile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Step is one phase of a load profile: a request rate held for a duration.
type Step struct {
	For time.Duration
	RPS float64
}

// Profile is a sequence of steps.
type Profile []Step

// Parse reads "DURATION@RPS,..." steps; every duration must be positive and every rate a
// number of at least zero.
func Parse(s string) (Profile, error) {
	var p Profile
	for i, part := range strings.Split(s, ",") {
		d, r, ok := strings.Cut(strings.TrimSpace(part), "@")
		if !ok {
			return nil, fmt.Errorf("profile step %d %q: want DURATION@RPS, e.g. 30s@50", i, part)
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur <= 0 {
			return nil, fmt.Errorf("profile step %d %q: duration must be positive, e.g. 30s", i, part)
		}
		rps, err := strconv.ParseFloat(r, 64)
		if err != nil || !(rps >= 0 && rps <= 1e9) {
			return nil, fmt.Errorf("profile step %d %q: rate must be a number >= 0", i, part)
		}
		p = append(p, Step{For: dur, RPS: rps})
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("profile is empty")
	}
	return p, nil
}

// RateAt is the offered rate at elapsed time t, and false once the profile is over.
func (p Profile) RateAt(t time.Duration) (float64, bool) {
	for _, s := range p {
		if t < s.For {
			return s.RPS, true
		}
		t -= s.For
	}
	return 0, false
}

// Duration is the length of the whole profile.
func (p Profile) Duration() time.Duration {
	var d time.Duration
	for _, s := range p {
		d += s.For
	}
	return d
}
