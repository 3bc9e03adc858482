// Package attribution maps an authenticated pod to the target of the policy that scales it,
// only through the API server's view (the controller-runtime cache): the pod's workload as
// package workload finds it (the controller owner chain ReplicaSet → Deployment →
// SeldonDeployment, StatefulSet, ..., then Seldon's labels), then the label selectors of the
// targets' /scale subresources. Nothing a report claims about its workload is used.
package attribution

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
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
	// ErrNotScaled: no policy's target owns or selects the pod.
	ErrNotScaled = errors.New("no AutoscalingPolicy scales this pod")
)

// Resolver attributes pods to targets. It is safe for concurrent use.
type Resolver struct {
	reader client.Reader
	clock  clock.PassiveClock
	ttl    time.Duration

	selMu     sync.RWMutex
	selectors map[target.Key]labels.Selector

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
	return &Resolver{reader: reader, clock: clk, ttl: ttl, selectors: map[target.Key]labels.Selector{}, cache: map[types.UID]cached{}}
}

// SetSelector records the label selector of target k's /scale (from status.selector), or
// forgets it when sel is nil. The controller keeps these current; they attribute pods whose
// owner chain does not reach a target.
func (r *Resolver) SetSelector(k target.Key, sel labels.Selector) {
	r.selMu.Lock()
	defer r.selMu.Unlock()
	if sel == nil || sel.Empty() {
		delete(r.selectors, k)
		return
	}
	r.selectors[k] = sel
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
	chain, err := workload.Chain(ctx, workload.Pod{Namespace: pod.Namespace, Labels: pod.Labels, Owners: pod.OwnerReferences}, workload.ClientGetter{Cache: r.reader})
	if err != nil {
		return target.Key{}, err
	}
	keys := make([]target.Key, 0, len(chain))
	for _, o := range chain {
		k := target.Key{Namespace: pod.Namespace, Group: o.GroupKind.Group, Kind: o.GroupKind.Kind, Name: o.Name}
		if targets[k] {
			return k, nil
		}
		keys = append(keys, k)
	}
	r.selMu.RLock()
	defer r.selMu.RUnlock()
	podLabels := labels.Set(pod.Labels)
	for k := range targets {
		if sel, ok := r.selectors[k]; ok && sel.Matches(podLabels) {
			return k, nil
		}
	}
	return target.Key{}, fmt.Errorf("%w: pod %s/%s (owners %v)", ErrNotScaled, pod.Namespace, pod.Name, keys)
}
