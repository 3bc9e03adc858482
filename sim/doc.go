// Package sim is a deterministic discrete-event simulator of one inference service under an
// autoscaler: requests from a workload, pods that take a start delay to become Ready, a
// load balancer that spreads requests over the Ready pods, one model server (package model)
// per pod, and per pod the agent's own measurement code (agent/measure) that builds the
// reports the autoscaler reads. Time is virtual: a run of an hour takes a fraction of a
// second, nothing sleeps, and every random choice comes from the run's seed.
//
// An Autoscaler sees what its real counterpart would: inferscale the agents' reports through
// the scaler's report store (scaler/window) and its decision core (scaler/decision); the HPA
// baselines metrics-server's cpu samples or a polled Prometheus gauge through the same
// decision core's port of HPA's replica calculator and behavior; others bring their own code
// behind the same small interface.
package sim
