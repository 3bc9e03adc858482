// Package budget shares an AutoscalingBudget among the policies it covers. It is pure: the
// policies' demands, priorities and per-replica costs and the budget in; grants and their
// human reasons out. No client, no clock, no I/O.
//
// # Precedence
//
// Four rules set a target's replicas; when they disagree, the earlier one wins:
//
//  1. The budget. A grant never makes the covered targets request more than the budget's max
//     together, with one exception: no policy is granted less than its minReplicas, and the
//     budget says so (MinimumsFit=False) when the minimums alone exceed the max.
//  2. The policy's own decision: its metrics, behavior, and minReplicas/maxReplicas
//     (scaler/decision). It sets the demand; a budget grants at most that plus headroom.
//  3. The unschedulable guard: while a pod of the target is unschedulable, the decision holds
//     scale-ups, and no headroom replica is added either (it would not be scheduled).
//  4. Headroom: spare replicas above the demand, within maxReplicas. It comes last: it is the
//     first thing a short budget gives up, the guard stops it, and burst mode uses the spare
//     replicas already running before it asks for new pods (no new headroom pod is added while
//     burst mode lasts, nor while the decision holds the count for want of data; the running
//     ones are kept).
//
// Request applies rules 2 to 4 to one policy's decision; Allocate applies rule 1 to all the
// policies of a budget.
//
// # Allocation
//
// Allocate fills the budget in tiers, each tier in priority order (higher first) and, within
// one priority, in proportion to what each policy still asks for in that tier:
//
//  1. minReplicas, for everyone, whether they fit or not;
//  2. what a non-preemptible policy already runs of its demand (min(current, demand)): such a
//     target is never scaled down to make room for another one, only its growth waits;
//  3. the demand;
//  4. the headroom;
//  5. the budget's min, if any: extra replicas, within maxReplicas, until the covered targets
//     request at least that much.
//
// So a preemptible policy of lower priority is scaled down (to its minReplicas at most) when
// a higher priority needs the room; a non-preemptible one is not. Headroom replicas, spare by
// definition, are given up by everyone before anyone's demand is trimmed.
//
// # Counting
//
// A replica's cost is what one pod of the target requests of the budget's resource, as the
// scheduler counts it (containers, sidecars, init containers and overhead:
// k8s.io/component-helpers' PodRequests). For nvidia.com/gpu, a whole GPU counts 1 and a MIG
// slice of the device plugin's "mixed" strategy (nvidia.com/mig-<g>g.<mem>gb) counts g/7 of a
// GPU: the 7 compute slices of an A100, H100 or H200 (under the "single" strategy the slices
// are nvidia.com/gpu and count 1 each). A budget on a MIG profile counts those slices only.
// Amounts are exact integers: milli-units for cpu and MIG profiles, bytes for memory, and
// 1/7000 of a GPU for nvidia.com/gpu. GPUs from DRA ResourceClaims are not in the pod's
// requests and are not counted.
package budget
