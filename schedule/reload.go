package schedule

import "time"

// replan plans the jobs of a reloaded crontab. A job the old schedule
// already had (same name, schedule and zone) is planned from cursor, the
// time up to which every tick has been handled, so that a tick which fell
// due during the reload still fires. Any other job is planned from now,
// when the reload began: a job added or rescheduled by the reload has no
// tick before it existed, and running one at once, late, would surprise.
func replan(old []entry, jobs []Job, cursor, now time.Time, h Hooks) []entry {
	known := make(map[string]Job, len(old))
	for _, e := range old {
		known[e.job.Name] = e.job
	}
	es := make([]entry, len(jobs))
	for i, j := range jobs {
		from := now
		if o, ok := known[j.Name]; ok && o.Spec == j.Spec && o.TZ.String() == j.TZ.String() {
			from = cursor
		}
		es[i] = entry{job: j, next: j.Next(from)}
		h.Planned(j, es[i].next)
	}
	return es
}
