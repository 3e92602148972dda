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
// # Guarantees
//
//   - A tick is claimed at most once: the claim is a conditional create of its
//     record, and nothing ever deletes or releases a record.
//   - The runner renews a lease while its job runs; a renewal refused (the
//     tick was taken over) or one that cannot get through before the lease
//     ends stops the job (see [Run.Renew]).
//   - A record left "running" with an expired lease was lost with its
//     instance. [Ledger.Claim] marks it [Lost]; it is run again (fence + 1,
//     attempt + 1) only when the caller says the job may run twice. Readers
//     see it lost at once, marked or not ([Record.AsOf]): in prefix mode
//     nobody claims that tick again.
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
// # Not guaranteed
//
// The lease is a clock: it assumes the instances' clocks agree within a few
// seconds (NTP or Amazon Time Sync). A process frozen longer than its lease
// can wake and act before it notices the lease is gone; the fence number,
// passed to the job as LEADERGATE_FENCE, lets the job's own writes reject it.
// A job that dies mid-run is rerun only if it says it may.
//
// The package talks to storage through [Store]; [DynamoDB] is the production
// one and [Memory] a fake with DynamoDB's conditional semantics for tests.
package ledger
