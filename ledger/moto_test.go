package ledger

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadergate/leadergate/internal/awsfake"
	"github.com/leadergate/leadergate/internal/awsfake/faultproxy"
	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/clock/clocktest"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/motoserver"
)

// motoLedger is moto_server's DynamoDB behind a fault-injecting proxy.
type motoLedger struct {
	moto  *motoserver.Moto
	proxy *faultproxy.Proxy
	cfg   aws.Config // through the proxy
}

var sharedMoto *motoserver.Moto

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedMoto != nil {
		sharedMoto.Close()
	}
	os.Exit(code)
}

func startMoto(tb testing.TB) *motoLedger {
	tb.Helper()
	if sharedMoto == nil {
		m, err := motoserver.Start(context.Background())
		if motoserver.Skip(err) {
			tb.Skip(err)
		}
		if err != nil {
			tb.Fatal(err)
		}
		sharedMoto = m
	}
	if err := sharedMoto.Reset(); err != nil {
		tb.Fatal(err)
	}
	p := faultproxy.New(sharedMoto.URL)
	tb.Cleanup(p.Close)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithBaseEndpoint(p.URL()),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 50 * time.Millisecond })
		}),
	)
	if err != nil {
		tb.Fatal(err)
	}
	return &motoLedger{moto: sharedMoto, proxy: p, cfg: cfg}
}

func (m *motoLedger) store(tb testing.TB, table string, now func() time.Time) *DynamoDB {
	tb.Helper()
	d, err := NewDynamoDB(m.cfg, table, now)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func (m *motoLedger) table(tb testing.TB, now func() time.Time) *DynamoDB {
	tb.Helper()
	d := m.store(tb, "leadergate-test", now)
	if _, err := d.Ensure(context.Background(), 10*time.Millisecond); err != nil {
		tb.Fatal(err)
	}
	return d
}

func exitCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

func TestMotoEnsureCreatesOnceAndRefusesAForeignTable(t *testing.T) {
	m := startMoto(t)
	d := m.store(t, "leadergate-test", nil)
	created, err := d.Ensure(context.Background(), 10*time.Millisecond)
	if err != nil || !created {
		t.Fatalf("first ensure = %t, %v; want created", created, err)
	}
	if created, err = d.Ensure(context.Background(), 10*time.Millisecond); err != nil || created {
		t.Fatalf("second ensure = %t, %v; want an existing table accepted", created, err)
	}
	raw := dynamodb.NewFromConfig(m.cfg)
	ttl, err := raw.DescribeTimeToLive(context.Background(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("leadergate-test")})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "ttl" {
		t.Errorf("TTL = %+v, %v; want enabled on ttl", ttl, err)
	}
	_, err = raw.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String("someone-elses"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.store(t, "someone-elses", nil).Ensure(context.Background(), 10*time.Millisecond)
	if exitCode(err) != exitcode.Config {
		t.Errorf("ensure on a table with other keys = %v, want exit 78", err)
	}
	t.Logf("wrong schema: %v", err)
}

func TestMotoClaimRenewFinishAndTakeover(t *testing.T) {
	m := startMoto(t)
	c := clocktest.New(tick)
	d := m.table(t, c.Now)
	ls := newLedgers(d, c, "i-leader", "i-follower", "i-third")
	ctx := context.Background()
	before := m.proxy.Calls("PutItem")

	got, err := ls[0].Claim(ctx, key(), ClaimOptions{})
	if err != nil || got.Outcome != Won {
		t.Fatalf("leader's claim = %+v, %v", got, err)
	}
	if n := m.proxy.Calls("PutItem") - before; n != 1 {
		t.Errorf("the leader's claim made %d PutItem, want 1", n)
	}
	// A second create is refused, and moto returns the holder (ALL_OLD).
	second, err := ls[2].Claim(ctx, key(), ClaimOptions{})
	if err != nil || second.Outcome != Taken || second.Holder == nil || second.Holder.Owner != "i-leader" {
		t.Fatalf("a second create = %+v, %v; want taken by i-leader", second, err)
	}
	c.Add(15 * time.Second)
	gets := m.proxy.Calls("GetItem")
	puts := m.proxy.Calls("PutItem")
	f, err := ls[1].Claim(ctx, key(), ClaimOptions{Look: true})
	if err != nil || f.Outcome != Taken {
		t.Fatalf("follower's claim = %+v, %v", f, err)
	}
	if g, p := m.proxy.Calls("GetItem")-gets, m.proxy.Calls("PutItem")-puts; g != 1 || p != 0 {
		t.Errorf("the follower made %d GetItem and %d PutItem, want 1 and 0", g, p)
	}
	if err := got.Run.Renew(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
	c.Add(2 * time.Minute) // the leader froze past its lease
	b, err := ls[1].Claim(ctx, key(), ClaimOptions{Look: true, Rerun: true})
	if err != nil || b.Outcome != Won || b.Run.Record().Fence != 2 {
		t.Fatalf("takeover = %+v, %v; want won with fence 2", b, err)
	}
	if err := got.Run.Renew(ctx); !IsConflict(err) {
		t.Errorf("the frozen leader's renewal = %v, want a conflict", err)
	}
	if err := b.Run.Finish(ctx, 0); err != nil {
		t.Fatal(err)
	}
	r, found, err := d.Get(ctx, key())
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if r.Owner != "i-follower" || r.State != Succeeded || r.Fence != 2 || r.Attempt != 2 || r.Finished.IsZero() {
		t.Errorf("record = %+v", r)
	}
	if !r.Tick.Equal(tick) || !r.Started.Equal(tick.Add(15*time.Second+2*time.Minute)) {
		t.Errorf("times did not survive the round trip: tick %s, started %s", r.Tick, r.Started)
	}
}

func TestMotoALostRunIsMarkedLost(t *testing.T) {
	m := startMoto(t)
	c := clocktest.New(tick)
	d := m.table(t, c.Now)
	ls := newLedgers(d, c, "i-a", "i-b")
	ls[0].Claim(context.Background(), key(), ClaimOptions{})
	c.Add(5 * time.Minute)
	got, err := ls[1].Claim(context.Background(), key(), ClaimOptions{Look: true})
	if err != nil || got.Outcome != LostFound {
		t.Fatalf("claim = %+v, %v; want lost", got, err)
	}
	r, _, _ := d.Get(context.Background(), key())
	if r.State != Lost || r.Owner != "i-a" {
		t.Errorf("record = %+v", r)
	}
}

func TestMotoRecentByJobAndByGroup(t *testing.T) {
	m := startMoto(t)
	c := clocktest.New(tick)
	d := m.table(t, c.Now)
	l := &Ledger{Store: d, Owner: "i-a", Clock: clock.Func(c.Now)}
	for i, job := range []string{"billing", "report", "billing", "report"} {
		k := Key{Group: "e-abc123", Job: job, Tick: tick.Add(time.Duration(i) * time.Hour)}
		got, err := l.Claim(context.Background(), k, ClaimOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got.Run.Finish(context.Background(), i)
	}
	l.Claim(context.Background(), Key{Group: "e-other", Job: "billing", Tick: tick}, ClaimOptions{})
	all, err := d.Recent(context.Background(), "e-abc123", "", time.Time{}, 10)
	if err != nil || len(all) != 4 || all[0].Job != "report" || !all[0].Tick.Equal(tick.Add(3*time.Hour)) {
		t.Fatalf("group history = %+v, %v", all, err)
	}
	bill, err := d.Recent(context.Background(), "e-abc123", "billing", tick.Add(time.Minute), 10)
	if err != nil || len(bill) != 1 || bill[0].ExitCode != 2 || bill[0].State != Failed {
		t.Fatalf("billing since 03:01 = %+v, %v", bill, err)
	}
}

func TestMotoFaultsRunNothingAndLeaveNothingClaimed(t *testing.T) {
	m := startMoto(t)
	c := clocktest.New(tick)
	d := m.table(t, c.Now)
	l := newLedgers(d, c, "i-a")[0]
	cases := []struct {
		name  string
		fault awsfake.Fault
		want  int
	}{
		{"throttled (ProvisionedThroughputExceededException)", awsfake.Fault{Kind: awsfake.Throttle}, exitcode.TempFail},
		{"throttled (ThrottlingException)", awsfake.Fault{Kind: awsfake.Throttle, Code: "ThrottlingException"}, exitcode.TempFail},
		{"500s", awsfake.Fault{Kind: awsfake.InternalError}, exitcode.TempFail},
		{"hanging", awsfake.Fault{Kind: awsfake.Hang}, exitcode.TempFail},
		{"access denied", awsfake.Fault{Kind: awsfake.Unauthorized}, exitcode.Config},
	}
	for _, tc := range cases {
		for _, look := range []bool{false, true} {
			m.proxy.ClearFaults()
			m.proxy.Inject(tc.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			got, err := l.Claim(ctx, key(), ClaimOptions{Look: look})
			cancel()
			if exitCode(err) != tc.want || got.Run != nil {
				t.Errorf("%s (look %t): claim = %+v, %v; want exit %d and no run", tc.name, look, got, err, tc.want)
			}
			t.Logf("%s: %v", tc.name, err)
		}
	}
	m.proxy.ClearFaults()
	if _, found, err := d.Get(context.Background(), key()); err != nil || found {
		t.Errorf("after the faults: found %t, %v; want no record", found, err)
	}
}

func TestMotoNoTableIsExit78WithTheFix(t *testing.T) {
	m := startMoto(t)
	d := m.store(t, "no-such-table", time.Now)
	_, err := (&Ledger{Store: d, Owner: "i-a"}).Claim(context.Background(), key(), ClaimOptions{Look: true})
	if exitCode(err) != exitcode.Config {
		t.Fatalf("claim on a missing table = %v, want exit 78", err)
	}
	t.Logf("%v", err)
}

// BenchmarkMotoClaim measures one leader's claim (one conditional PutItem)
// against moto_server, through the proxy.
func BenchmarkMotoClaim(b *testing.B) {
	m := startMoto(b)
	d := m.table(b, time.Now)
	l := &Ledger{Store: d, Owner: "i-a"}
	k := key()
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		k.Tick = tick.Add(time.Duration(i) * time.Second)
		start := time.Now()
		if got, err := l.Claim(context.Background(), k, ClaimOptions{}); err != nil || got.Outcome != Won {
			b.Fatal(got, err)
		}
		took = append(took, time.Since(start))
	}
	reportMedian(b, took)
}

// BenchmarkMotoFollowerLook measures a follower's look at a taken tick
// (one consistent GetItem, no write).
func BenchmarkMotoFollowerLook(b *testing.B) {
	m := startMoto(b)
	d := m.table(b, time.Now)
	leader := &Ledger{Store: d, Owner: "i-a"}
	follower := &Ledger{Store: d, Owner: "i-b"}
	if _, err := leader.Claim(context.Background(), key(), ClaimOptions{}); err != nil {
		b.Fatal(err)
	}
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if got, err := follower.Claim(context.Background(), key(), ClaimOptions{Look: true}); err != nil || got.Outcome != Taken {
			b.Fatal(got, err)
		}
		took = append(took, time.Since(start))
	}
	reportMedian(b, took)
}

func reportMedian(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
}

// TestTheEbextensionsVariantMakesTheSameTable: the CloudFormation table of
// .ebextensions/leadergate-ledger.config has the keys, index and TTL
// attribute that ledger create makes and Ensure accepts. (The instance
// role's statements are iam-policy's: elect's tests check them.)
func TestTheEbextensionsVariantMakesTheSameTable(t *testing.T) {
	b, err := os.ReadFile("../.ebextensions/leadergate-ledger.config")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		"{AttributeName: " + attrPK + ", KeyType: HASH}", "{AttributeName: " + attrTick + ", KeyType: RANGE}",
		"IndexName: " + GroupIndex, "{AttributeName: " + attrGroup + ", KeyType: HASH}", "Projection: {ProjectionType: KEYS_ONLY}",
		"TimeToLiveSpecification: {AttributeName: " + attrTTL + ", Enabled: true}", "BillingMode: PAY_PER_REQUEST",
		"LEADERGATE_LEDGER: '`{\"Ref\" : \"LeadergateLedger\"}`'",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the .ebextensions variant lacks %q", want)
		}
	}
}

func TestMotoOnceAndServiceRecordsRoundTripAndListFirst(t *testing.T) {
	m := startMoto(t)
	c := clocktest.New(tick)
	d := m.table(t, c.Now)
	ls := manualLedgers(d, c, "i-a", "i-b")
	ctx := context.Background()
	if _, err := ls[0].Claim(ctx, key(), ClaimOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := ls[0].Once(ctx, onceKey(), OnceOptions{ClaimAt: c.Now()})
	if err != nil || res.Outcome != OnceRun {
		t.Fatal(res, err)
	}
	if err := res.Run.Finish(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := ls[1].Once(ctx, onceKey(), OnceOptions{ClaimAt: c.Now()}); err != nil || got.Outcome != OnceDone || got.Record.State != Succeeded || got.Record.Owner != "i-a" {
		t.Fatalf("second once = %+v, %v", got, err)
	}
	a, _, err := ls[0].Acquire(ctx, serviceKey(), true)
	if err != nil || a == nil {
		t.Fatal(a, err)
	}
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b, _, err := ls[1].Acquire(ctx, serviceKey(), false)
	if err != nil || b == nil || b.Fence() != 2 {
		t.Fatalf("after release: %v, %v", b, err)
	}
	recs, err := d.Recent(ctx, "e-abc123", "", tick.Add(-time.Hour), 10)
	if err != nil || len(recs) != 3 {
		t.Fatalf("history = %+v, %v", recs, err)
	}
	if !recs[0].Untimed() || !recs[1].Untimed() || recs[2].Job != "billing" {
		t.Errorf("history order: %s, %s, %s; want the untimed records first", recs[0].Key, recs[1].Key, recs[2].Key)
	}
	if r, _, _ := d.Get(ctx, serviceKey()); r.Owner != "i-b" || r.Fence != 2 || r.State != Running || !r.Expires.After(c.Now()) {
		t.Errorf("service record = %+v", r)
	}
}
