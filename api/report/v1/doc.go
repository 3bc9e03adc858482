// Package v1 is the report wire format between the inferscale agent and the scaler, version
// "inferscale.io/report/v1". Import it as reportv1. It depends on the standard library only.
//
// An agent sends one report per interval (default 1 s) as
//
//	POST /v1/reports
//	Authorization: Bearer <projected service-account token, audience inferscale-scaler>
//	Content-Type: application/json
//
// and the scaler answers 202, or 400 (with the FieldError's text), 401, 403, 413 (ErrTooLarge)
// or 429 with a JSON error. Decode reads at most MaxReportBytes and validates.
//
// # Schema
//
//	{
//	  "apiVersion": "inferscale.io/report/v1",           // required, exactly this
//	  "pod": {"namespace": "ai", "name": "llama-7f9c-x2", "uid": "…", "node": "gpu-3"},
//	                                                      // namespace, name, uid required
//	  "interval": {"start": "2026-11-23T10:00:00Z", "end": "2026-11-23T10:00:01Z"},
//	                                                      // RFC 3339, end after start
//	  "requests": {"2xx": 40, "3xx": 0, "4xx": 1, "5xx": 0, "transportErrors": 1,
//	               "rejected": 3},                        // requests finished in the interval;
//	                                                      // rejected: refused by the agent's full
//	                                                      // queue, in no other count or sketch
//	  "latency":         {"count": 42, "sum": 8.4, "zeroCount": 0,
//	                      "spans": [{"index": -92, "counts": [3, 0, 5, 34]}]},
//	  "timeToFirstByte": {"count": 41, "sum": 1.2, "spans": [...]},
//	  "timePerOutputToken": {"count": 30, "sum": 0.6, "spans": [...]},
//	                                                      // seconds; count of latency = requests total,
//	                                                      // timeToFirstByte has no transport errors,
//	                                                      // timePerOutputToken only event streams of
//	                                                      // two events or more (absent: empty)
//	  "inFlight": {"average": 3.2, "max": 7},             // time-weighted over the interval, incl. queued
//	  "queue":    {"average": 0.4, "max": 2},             // waiting for the agent's concurrency limit
//	  "modelMetrics": {"vllm:num_requests_waiting": 3},   // scraped gauges; absent ones are omitted
//	  "modelMetricsScrape": {"error": "…",                // why the last scrape failed, or
//	                         "missing": {"vllm:num_requests_swapped": "NotExported"}},
//	                                                      // why a scraped gauge is absent
//	                                                      // (NotExported, NoValue, WrongType)
//	  "gpus": [{"index": 0, "uuid": "GPU-…", "utilizationPercent": 87,
//	            "memoryUsedBytes": 6.4e10, "memoryTotalBytes": 8.5e10,
//	            "powerWatts": 412.5, "powerLimitWatts": 700,
//	            "smClockMHz": 1980, "smClockMaxMHz": 1980, "throttleReasons": ["SwPowerCap"],
//	            "smActivityPercent": 71, "smOccupancyPercent": 33, "tensorActivityPercent": 40},
//	           {"index": 1, "uuid": "MIG-…", "mig": true, "parentUUID": "GPU-…",
//	            "memoryUsedBytes": 1e9, "memoryTotalBytes": 1e10}],
//	                                                      // everything but index, uuid and memory is
//	                                                      // optional: absent where the device lacks it
//	                                                      // (GPM: Hopper and newer; MIG: memory and GPM)
//	  "gpuAttribution": "PodResources",                   // DRA, PodResources, Configured or Unattributed
//	  "droppedReports": 0                                 // dropped since the last delivered report
//	}
//
// # Limits
//
// Validate refuses, naming the field: an interval longer than MaxInterval; more than
// MaxRequestsPerSecond requests per second of the interval (a shorter interval counts as one
// second) or counts that overflow when summed; gauges that are negative, not finite or over
// MaxInFlight; a sketch sum over count × MaxValue; a GPU index over MaxGPUIndex or power over
// MaxPowerWatts; a scrape error over MaxScrapeErrorLen bytes or not printable UTF-8, more than
// MaxModelMetrics missing gauges, a missing gauge's reason that is not 1 to 32 ASCII letters.
// Clamp bounds what a real agent may produce out of range: an average over its
// maximum, model gauges beyond ±MaxModelMetricValue, droppedReports over MaxDroppedReports.
// CheckAge refuses a report whose interval ended too far from the receiver's clock.
//
// # Sketches
//
// Latency and time to first byte are sketches (after DDSketch): bucket i counts values in
// (γ^(i−1), γ^i], γ = (1+α)/(1−α), α = RelativeAccuracy = 0.009, and reads back as 2γ^i/(γ+1),
// so any quantile is within 0.9% (the API promises 1%) of the recorded value of that rank.
// Values below MinValue (1 ns) are counted in zeroCount; indexes lie in [MinIndex, MaxIndex].
// On the wire a sketch is runs ("spans") of consecutive buckets starting at "index"; "count"
// must equal zeroCount plus all span counts. Index and Value are the mapping both sides use, so
// the scaler merges sketches of many pods and seconds exactly (Sketch.Merge) and reads
// quantiles from the merged sketch (Sketch.Quantile); percentiles are never averaged.
//
// # Compatibility
//
// Fields may be added to v1; decoders ignore fields they do not know. Changing the meaning of a
// field, or the sketch mapping, needs a new apiVersion.
package v1
