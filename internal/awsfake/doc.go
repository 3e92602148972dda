// Package awsfake is an in-process emulator of the two AWS surfaces that
// leadergate uses: the EC2 Query API (DescribeInstances, CreateTags) for one
// simulated Region, and the IMDSv2 instance metadata service of one simulated
// instance. Both listen on 127.0.0.1 and speak the wire protocols the real
// aws-sdk-go-v2 clients speak, so tests and "leadergate simulate" exercise
// the real SDK code paths: signing, retries, pagination, error decoding.
//
// # Strictness
//
// The emulator is strict so that tests catch what a hand-written fake would
// let through: every request is recorded; unknown actions, unknown
// parameters and unknown filter names are refused with the error codes EC2
// returns; EC2 requests must carry a SigV4 Authorization header scoped to
// the emulated Region (and, with [WithCredentials], a valid signature);
// MaxResults cannot be combined with instance ids; IMDS refuses IMDSv1
// (requests without a session token) and expires tokens after their TTL.
//
// # Faults
//
// [Fault] values injected at any time make chosen calls fail the way AWS
// fails: throttling, internal errors, missing permissions, or no answer.
// [EC2.SetConsistencyLag] reproduces the eventual consistency of
// DescribeInstances: a state change (a termination, say) becomes visible
// only after a delay.
//
// # Non-guarantees
//
// It emulates only what leadergate needs, not EC2. Results come in a stable
// but deliberately unsorted order (AWS guarantees none); pagination is by
// instance, one reservation per instance, as for Auto Scaling groups.
// Terminated instances stay listed for an hour of the emulator's clock, as
// on AWS. No IAM policy is evaluated: use an Unauthorized fault instead.
// Request timestamps are not checked against the clock, so a fake clock may
// run far from the SDK's.
package awsfake
