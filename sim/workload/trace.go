package workload

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// traceLayout is the timestamp format of the Azure LLM inference traces
// ("2023-11-16 18:17:03.9799600"); fewer fractional digits parse as well.
const traceLayout = "2006-01-02 15:04:05.999999999"

// ReadTrace reads a CSV trace in the Azure LLM inference trace schema: a header naming the
// columns TIMESTAMP, ContextTokens and GeneratedTokens (in any order, other columns ignored),
// then one request per row, in time order. Arrival times are made relative to the first
// request. A bad row is an error naming its line and column.
func ReadTrace(r io.Reader) ([]Request, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("trace is empty: want a header TIMESTAMP,ContextTokens,GeneratedTokens")
	}
	if err != nil {
		return nil, fmt.Errorf("trace line 1: %w", err)
	}
	col := map[string]int{"TIMESTAMP": -1, "ContextTokens": -1, "GeneratedTokens": -1}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, ok := col[h]; ok {
			col[h] = i
		}
	}
	for name, i := range col {
		if i < 0 {
			return nil, fmt.Errorf("trace line 1: header %q lacks column %s (want TIMESTAMP,ContextTokens,GeneratedTokens)", strings.Join(header, ","), name)
		}
	}
	width := max(col["TIMESTAMP"], col["ContextTokens"], col["GeneratedTokens"]) + 1
	var reqs []Request
	var first, prev time.Time
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trace: %w", err) // csv's errors name the line
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < width {
			return nil, fmt.Errorf("trace line %d: %d columns, want at least %d", line, len(rec), width)
		}
		ts, err := time.Parse(traceLayout, strings.TrimSpace(rec[col["TIMESTAMP"]]))
		if err != nil {
			return nil, fmt.Errorf("trace line %d: TIMESTAMP %q: want e.g. 2023-11-16 18:17:03.9799600", line, rec[col["TIMESTAMP"]])
		}
		prompt, err := tokens(rec[col["ContextTokens"]])
		if err != nil {
			return nil, fmt.Errorf("trace line %d: ContextTokens: %w", line, err)
		}
		output, err := tokens(rec[col["GeneratedTokens"]])
		if err != nil {
			return nil, fmt.Errorf("trace line %d: GeneratedTokens: %w", line, err)
		}
		if len(reqs) == 0 {
			first = ts
		} else if ts.Before(prev) {
			return nil, fmt.Errorf("trace line %d: TIMESTAMP %s is before the previous row's %s: rows must be in time order", line, ts.Format(traceLayout), prev.Format(traceLayout))
		}
		if ts.Sub(first) > 30*24*time.Hour {
			return nil, fmt.Errorf("trace line %d: more than 30 days after the first row", line)
		}
		prev = ts
		reqs = append(reqs, Request{At: ts.Sub(first), Prompt: prompt, Output: output})
		if len(reqs) > MaxRequests {
			return nil, fmt.Errorf("trace line %d: more than %d requests", line, MaxRequests)
		}
	}
	if len(reqs) == 0 {
		return nil, errors.New("trace has a header but no requests")
	}
	return reqs, nil
}

func tokens(s string) (int32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 0 || n > MaxTokens {
		return 0, fmt.Errorf("%q: want a whole number of tokens within [0, %d]", s, MaxTokens)
	}
	return int32(n), nil
}
