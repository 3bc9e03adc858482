// Package attribution maps an authenticated pod to the target of the policy that scales it,
// only through the API server's view (the controller-runtime cache) and only through the
// pod's owner chain as package workload verifies it: Pod → ReplicaSet → Deployment →
// SeldonDeployment, Pod → StatefulSet, each link held as its controller would hold it. Labels
// (Seldon's, or those a target's /scale selector names) attribute nothing, as any pod may
// carry them, and nothing a report claims about its workload is used.
package attribution

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/workload"
)

var (
	// ErrPodNotFound: no pod of that name and UID exists in the API server's view.
	ErrPodNotFound = errors.New("pod not found")
	// ErrNotScaled: no policy's target owns the pod.
	ErrNotScaled = errors.New("no AutoscalingPolicy scales this pod")
	// ErrUnverified: the pod names an owner that would be a policy's target, or on the way
	// to one, through an owner reference that does not verify (workload.ErrUnverified).
	ErrUnverified = workload.ErrUnverified
)

// Resolver attributes pods to targets. It is safe for concurrent use.
type Resolver struct {
	reader client.Reader
	clock  clock.PassiveClock
	ttl    time.Duration

	mu    sync.Mutex
	cache map[types.UID]cached
}

type cached struct {
	key     target.Key
	expires time.Time
}

// New returns a Resolver reading from reader (the manager's cached client). Results are
// remembered per pod UID for ttl: an owner chain does not change, but a policy may be created.
// The pod itself is read on every call, so a deleted pod is refused as soon as the watch
// delivers its deletion.
func New(reader client.Reader, clk clock.PassiveClock, ttl time.Duration) *Resolver {
	return &Resolver{reader: reader, clock: clk, ttl: ttl, cache: map[types.UID]cached{}}
}

// Resolve returns the target that scales pod namespace/name with the given UID.
func (r *Resolver) Resolve(ctx context.Context, namespace, name, uid string) (target.Key, error) {
	// The pod is looked up on every report, before the remembered result: the informer's
	// watch drops a deleted pod at once, and its token (valid until it expires) must not keep
	// reporting for it for a TTL.
	var pod corev1.Pod
	if err := r.reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &pod); err != nil {
		if apierrors.IsNotFound(err) {
			return target.Key{}, fmt.Errorf("%w: %s/%s", ErrPodNotFound, namespace, name)
		}
		return target.Key{}, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	if string(pod.UID) != uid {
		return target.Key{}, fmt.Errorf("%w: %s/%s has uid %s, not %s", ErrPodNotFound, namespace, name, pod.UID, uid)
	}
	now := r.clock.Now()
	r.mu.Lock()
	c, ok := r.cache[types.UID(uid)]
	r.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.key, nil
	}
	key, err := r.resolve(ctx, &pod)
	if err != nil {
		return target.Key{}, err
	}
	r.mu.Lock()
	if len(r.cache) > 4096 {
		for u, c := range r.cache {
			if !now.Before(c.expires) {
				delete(r.cache, u)
			}
		}
	}
	r.cache[pod.UID] = cached{key: key, expires: now.Add(r.ttl)}
	r.mu.Unlock()
	return key, nil
}

func (r *Resolver) resolve(ctx context.Context, pod *corev1.Pod) (target.Key, error) {
	var policies v1alpha1.AutoscalingPolicyList
	if err := r.reader.List(ctx, &policies, client.InNamespace(pod.Namespace)); err != nil {
		return target.Key{}, fmt.Errorf("list AutoscalingPolicies in %s: %w", pod.Namespace, err)
	}
	targets := make(map[target.Key]bool, len(policies.Items))
	for i := range policies.Items {
		targets[target.ForPolicy(&policies.Items[i])] = true
	}
	if len(targets) == 0 {
		return target.Key{}, fmt.Errorf("%w: none in namespace %s", ErrNotScaled, pod.Namespace)
	}

	// The nearest owner that a policy targets wins.
	chain, err := r.chain(ctx, pod)
	unverified := errors.Is(err, workload.ErrUnverified)
	if err != nil && !unverified {
		return target.Key{}, err
	}
	keys := make([]target.Key, 0, len(chain))
	for _, o := range chain {
		k := key(pod.Namespace, o)
		if targets[k] {
			if o.Source == workload.Claimed {
				return target.Key{}, fmt.Errorf("%w: pod %s/%s names %s as its controller, but a %s's pods cannot be verified (only a ReplicaSet's or a StatefulSet's can)", ErrUnverified, pod.Namespace, pod.Name, o, o.GroupKind.Kind)
			}
			return k, nil
		}
		keys = append(keys, k)
	}
	if unverified {
		return target.Key{}, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return target.Key{}, fmt.Errorf("%w: pod %s/%s (owners %v)", ErrNotScaled, pod.Namespace, pod.Name, keys)
}

// Owns reports whether target k owns pod through its verified owner chain: what the
// controller counts as the target's pods.
func (r *Resolver) Owns(ctx context.Context, pod *corev1.Pod, k target.Key) (bool, error) {
	chain, err := r.chain(ctx, pod)
	if err != nil && !errors.Is(err, workload.ErrUnverified) {
		return false, err
	}
	for _, o := range chain {
		if o.Source != workload.Claimed && key(pod.Namespace, o) == k {
			return true, nil
		}
	}
	return false, nil
}

func (r *Resolver) chain(ctx context.Context, pod *corev1.Pod) ([]workload.Owner, error) {
	p := workload.Pod{Namespace: pod.Namespace, Name: pod.Name, Labels: pod.Labels, Owners: pod.OwnerReferences}
	return workload.Chain(ctx, p, workload.ClientGetter{Cache: r.reader})
}

func key(namespace string, o workload.Owner) target.Key {
	return target.Key{Namespace: namespace, Group: o.GroupKind.Group, Kind: o.GroupKind.Kind, Name: o.Name}
}
