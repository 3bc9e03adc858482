package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inferscale/inferscale/internal/loadprofile"
)

// TestRunCountsEveryRequest drives a real server on loopback and checks that
// every sent request is accounted for as completed or failed.
func TestRunCountsEveryRequest(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%10 == 0 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	var out bytes.Buffer
	run(context.Background(), loadprofile.Profile{{For: 2 * time.Second, RPS: 50}}, srv.URL, 100, 5*time.Second, &out)

	var sent, completed, errs int
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var s Second
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		sent += s.Sent
		completed += s.Completed
		errs += s.Errors
	}
	if sent < 90 || sent > 110 {
		t.Fatalf("sent %d requests at 50/s for 2s", sent)
	}
	if completed+errs != sent || errs == 0 {
		t.Fatalf("sent %d, completed %d, errors %d: every request must be counted once, the 503s as errors", sent, completed, errs)
	}
}
