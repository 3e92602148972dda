// Package ledger keeps one record per scheduled run, keyed by (group, job,
// nominal tick), so that every tick of a leader-only job runs once
// fleet-wide, through leader deaths, deploys and clock skew.
//
// The lesson of every peer (ShedLock, gocron's Locker, dkron) is to lock the
// tick, not the job: a lock keyed by job name and released after the run lets
// a late instance run the same tick again; a record keyed by the tick and
// never released cannot be claimed twice. The tick comes from the schedule,
// so every instance derives the same key whatever its own clock says.
//
// # The turn
//
// [Turn] is the one loop that `run --ledger` and `schedule --ledger` share,
// through gate.Turn: it waits for this instance's turn (the leader at the
// tick plus its jitter, the others at tick + the jitter bound + the
// takeover delay), claims the tick with one conditional write, or records
// it [Skipped] when the job's previous run still runs here, and watches a
// holder's lease to record its run lost or rerun it. The claimed [Run] is
// a gate.Held: [Run.Hold] renews its lease and records its end.
//
// # Guarantees
//
//   - A tick is claimed at most once: the claim is a conditional create of its
//     record, and nothing ever deletes a record.
//   - A write whose answer is lost is recognised on retry by its owner and a
//     per-claim token: a claim that went through runs its tick.
//   - A tick skipped because its previous run still runs on the instance
//     whose turn it was is recorded [Skipped]: nobody takes it over.
//   - The runner renews a lease while its job runs, each renewal under its
//     own deadline and retried; a renewal refused (the tick was taken over)
//     stops the job at once, and renewals that get nothing through stop it
//     grace before the lease ends, so that it is gone when others may rerun
//     it (see [Run.Hold]). The end is retried until the lease ends.
//   - A record left "running" with an expired lease was lost with its
//     instance (or let go by a run stopped by shutdown, [Run.Release]).
//     [Ledger.Claim] marks it [Lost]; it is run again (fence + 1, attempt +
//     1) only when the caller says the job may run twice, by whoever looks
//     next: a watcher, or a scheduler that starts later ([Turn.Orphans]).
//     Readers see it lost at once, marked or not ([Record.AsOf]).
//
// # Deploy tasks and services
//
// Two kinds of record belong to no tick ([Untimed], sorted above every
// tick): a deploy task's ([OnceKey], [Ledger.Once]: one run per key, the
// others wait for its result, a runner whose lease ran out is taken over
// once by one waiter) and a singleton service's lease ([ServiceKey],
// [Ledger.Acquire], [Service]: one holder at a time, a fence that only
// grows, given back on a handover). A holder that cannot renew gives the
// lease up early enough to stop its command before anyone else may take it
// ([Lease.Keep]).
//
// # Operators' controls
//
// Pause, resume, trigger, rerun and backfill are [Control] items of a
// group's own partition, written by an [Operator] (with the caller's ARN
// from [Caller], and an audit record of state [ControlRecord] in the job's
// history) and read by each scheduler once per tick batch
// ([Controller.Read]). A pause's ticks and the ticks nobody ran are
// recorded [Skipped] and [Missed] with a conditional create ([Ledger.Note]),
// so one instance reports each. A trigger's run is a tick of its own key
// ([Control.RunKey]) taken through the same turn; a rerun or backfill tick
// replaces an ended or missed record once per request
// ([Ledger.ClaimRequest], [Turn.TakeRequest]). A scheduler that follows
// reads a tick once for all its jobs ([ControlStore.TakenAt] and one
// batched read) instead of once per job.
//
// # Not guaranteed
//
// The lease is a clock: it assumes the instances' clocks agree within a few
// seconds (NTP or Amazon Time Sync). A process frozen longer than its lease
// can wake and act before it notices the lease is gone; the fence number,
// passed to the job as LEADERGATE_FENCE, lets the job's own writes reject it.
// A job that dies mid-run is rerun only if it says it may. "Skip while the
// previous run still runs" covers the instance whose turn a tick is, not a
// run left on an instance that lost the leadership.
//
// The package talks to storage through [Store]; [DynamoDB] is the production
// one and [Memory] a fake with DynamoDB's conditional semantics for tests.
package ledger
