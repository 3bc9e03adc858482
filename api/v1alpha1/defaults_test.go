package v1alpha1

import (
	"testing"

	"k8s.io/utils/ptr"
)

func TestDefaultedFillsHPADefaults(t *testing.T) {
	s := validSpec()
	s.MinReplicas, s.Behavior, s.Burst, s.StableWindowSeconds = nil, nil, nil, nil
	d := s.Defaulted()

	if *d.MinReplicas != 1 || *d.StableWindowSeconds != 60 || *d.Burst.Threshold != 200 || *d.Burst.WindowSeconds != 6 {
		t.Fatalf("scalar defaults: min %d, stable %d, burst %d%%/%ds", *d.MinReplicas, *d.StableWindowSeconds, *d.Burst.Threshold, *d.Burst.WindowSeconds)
	}
	up, down := d.Behavior.ScaleUp, d.Behavior.ScaleDown
	if *up.StabilizationWindowSeconds != 0 || *up.SelectPolicy != MaxChangePolicySelect || len(up.Policies) != 2 ||
		up.Policies[0] != (ScalingPolicy{Type: PercentScalingPolicy, Value: 100, PeriodSeconds: 15}) ||
		up.Policies[1] != (ScalingPolicy{Type: PodsScalingPolicy, Value: 4, PeriodSeconds: 15}) {
		t.Fatalf("scale-up defaults differ from HPA's: %+v", up)
	}
	if *down.StabilizationWindowSeconds != 300 || len(down.Policies) != 1 ||
		down.Policies[0] != (ScalingPolicy{Type: PercentScalingPolicy, Value: 100, PeriodSeconds: 15}) {
		t.Fatalf("scale-down defaults differ from HPA's: %+v", down)
	}
	if up.Tolerance.String() != "100m" || down.Tolerance.String() != "100m" {
		t.Fatalf("tolerance defaults: %s, %s", up.Tolerance, down.Tolerance)
	}
	if *d.Metrics[0].Latency.MinRequests != DefaultLatencyMinRequests {
		t.Fatalf("latency minRequests default: %d", *d.Metrics[0].Latency.MinRequests)
	}
	if s.MinReplicas != nil || s.Behavior != nil {
		t.Fatal("Defaulted changed its receiver")
	}
}

func TestDefaultedKeepsWhatIsSet(t *testing.T) {
	s := validSpec()
	s.Behavior.ScaleDown = &ScalingRules{StabilizationWindowSeconds: ptr.To[int32](30)}
	d := s.Defaulted()
	down := d.Behavior.ScaleDown
	if *down.StabilizationWindowSeconds != 30 {
		t.Fatalf("a set window was overwritten: %d", *down.StabilizationWindowSeconds)
	}
	// As in HPA, omitted policies take the default list whole.
	if len(down.Policies) != 1 || down.Policies[0].Value != 100 || *down.SelectPolicy != MaxChangePolicySelect {
		t.Fatalf("omitted scale-down fields not defaulted: %+v", down)
	}
	if up := d.Behavior.ScaleUp; len(up.Policies) != 1 || up.Policies[0].Value != 100 || up.Tolerance == nil {
		t.Fatalf("set scale-up policies changed: %+v", up)
	}
}
