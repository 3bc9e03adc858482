package decision

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

func TestUnschedulableHoldIsScopedAndBounded(t *testing.T) {
	lastUp := t0.Add(-time.Minute)
	for _, tc := range []struct {
		name     string
		lastUp   time.Time // zero: no scale-up seen
		created  time.Time // of the unschedulable pod
		now      time.Time
		wantHold bool
	}{
		{"a pod of the last scale-up holds", lastUp, lastUp.Add(time.Second), t0, true},
		{"within the clock slack it is the last scale-up's", lastUp, lastUp.Add(-3 * time.Second), t0, true},
		{"an older scale-up's pod does not", lastUp, lastUp.Add(-time.Hour), t0, false},
		{"no scale-up seen: any pod holds", time.Time{}, t0.Add(-time.Minute), t0, true},
		{"unknown creation: held", lastUp, time.Time{}, t0, true},
		{"the hold ends 5 minutes after the pod's creation", lastUp, lastUp.Add(time.Second), lastUp.Add(time.Second + unschedulableHoldTimeout), false},
		{"a pod of no scale-up seen, created long ago, does not", time.Time{}, t0.Add(-time.Hour), t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := policy(1, 20, queueDepth("4"))
			spec.Burst.Threshold = ptr.To[int32](1000)
			pods := agentPods(4)
			pods[3].Phase, pods[3].Ready, pods[3].Unschedulable, pods[3].Created = corev1.PodPending, corev1.ConditionFalse, true, tc.created
			a := &Autoscaler{lastScaleUp: tc.lastUp}
			d := a.Decide(agentInput(spec, 4, pods, []float64{8, 8, 8}, nil), tc.now)
			if held := d.DesiredReplicas == 4; held != tc.wantHold || d.Hold != tc.wantHold {
				t.Fatalf("desired %d hold=%v, want held=%v (%s)", d.DesiredReplicas, d.Hold, tc.wantHold, d.Reason)
			}
			if tc.wantHold {
				checkCondition(t, d, v1alpha1.AbleToScale, metav1.ConditionFalse, v1alpha1.ReasonPodsUnschedulable)
			} else if c := condition(d, v1alpha1.AbleToScale); c.Status != metav1.ConditionTrue {
				t.Errorf("AbleToScale = %s %s, want True", c.Status, c.Reason)
			}
		})
	}
}

func TestScaledRemembersTheLastScaleUp(t *testing.T) {
	a := &Autoscaler{}
	a.Scaled(2, 4, t0)
	a.Scaled(4, 3, t0.Add(time.Minute))
	if !a.lastScaleUp.Equal(t0) {
		t.Errorf("lastScaleUp = %v, want the scale-up at %v", a.lastScaleUp, t0)
	}
}
