package decision

import "time"

const (
	// unschedulableHoldTimeout bounds the unschedulable hold: past it, a pod still not
	// scheduled no longer stops scale-ups (a node autoscaler that takes longer, a pod that
	// never fits), and AbleToScale goes back to True.
	unschedulableHoldTimeout = 5 * time.Minute
	// clockSlack allows for the API server's clock, which stamps creationTimestamp, being
	// behind the scaler's, which stamps the scale-up.
	clockSlack = 5 * time.Second
)

// unschedulable returns an unschedulable pod of the last scale-up and when its hold ends, or
// "". Only the pods created by the last scale-up (or, before the Autoscaler saw one, any pod)
// hold further scale-ups, and each for at most unschedulableHoldTimeout after its creation:
// one pod stuck since long ago does not freeze the target.
func (a *Autoscaler) unschedulable(pods []Pod, now time.Time) (string, time.Time) {
	for i := range pods {
		p := &pods[i]
		if !p.Unschedulable || p.Terminating {
			continue
		}
		created := p.Created
		if created.IsZero() {
			created = now
		}
		if !a.lastScaleUp.IsZero() && created.Before(a.lastScaleUp.Add(-clockSlack)) {
			continue // an older scale-up's pod
		}
		if until := created.Add(unschedulableHoldTimeout); now.Before(until) {
			return p.Name, until
		}
	}
	return "", time.Time{}
}
