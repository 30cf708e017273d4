using System.Net;
using System.Text.Json;
using BatchSync.Aws;
using BatchSync.Domain;
using BatchSync.Logging;
using BatchSync.Composition;
using BatchSync.Processing;
using Microsoft.Extensions.Time.Testing;

namespace BatchSync.Tests;

/// <summary>
/// Issue 18: the sweep keeps its work when services are slow or throttle. The schedule after a check (the decision), the
/// pacing, and the sweep against the in-memory world with slow, throttling and refusing services.
/// </summary>
[Collection(LogCapture.Collection)] // sweeps write log and metric records to the process-wide sink
public class SweepUnderPressureTests
{
    private static readonly DateTimeOffset SweepStart = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);
    private static readonly Timing Deployed = new() { SweepInterval = TimeSpan.FromMinutes(5), MaxCheckInterval = TimeSpan.FromMinutes(60) };

    private static TaskRecord Record(TimeSpan age, int failures = 0) => new()
    {
        TaskKey = "k", TaskToken = "t", Status = RecordStatus.Submitted, JobId = "j",
        CreatedAt = (SweepStart - age).ToUnixTimeMilliseconds(), NextCheckAt = SweepStart.ToUnixTimeMilliseconds(), CheckFailures = failures,
    };

    private static long Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds();

    [Fact]
    public void A_check_that_was_done_goes_back_on_the_age_schedule_and_clears_its_failures()
    {
        // The figure: a 6-minute-old task is next checked 11 minutes later (its age plus one interval).
        var check = TaskDecisions.AfterCheck(Record(TimeSpan.FromMinutes(6), failures: 3), CheckOutcome.Done, SweepStart, SweepStart, Deployed);
        Assert.Equal(Ms(SweepStart.AddMinutes(11)), check.NextCheckAt);
        Assert.Equal(0, check.Failures);
        // An old task: the cap.
        Assert.Equal(Ms(SweepStart.AddMinutes(60)), TaskDecisions.AfterCheck(Record(TimeSpan.FromDays(2)), CheckOutcome.Done, SweepStart, SweepStart, Deployed).NextCheckAt);
    }

    [Theory]
    // failures before, minutes after the sweep's start when it is due again (the next tick is at 5, then 10, 15, ...)
    [InlineData(0, 2.5)]   // the next sweep
    [InlineData(1, 7.5)]   // the one after
    [InlineData(2, 17.5)]  // 4 intervals
    [InlineData(3, 37.5)]  // 8 intervals
    [InlineData(4, 57.5)]  // 16 intervals would be 80 min: capped at MaxCheckInterval (60)
    [InlineData(40, 57.5)] // a poison record: still once an hour, never more rarely, never an overflow
    public void A_failed_check_is_due_at_the_next_sweep_and_backs_off_only_while_it_keeps_failing(int failuresBefore, double dueAfterMinutes)
    {
        foreach (var age in new[] { TimeSpan.FromMinutes(6), TimeSpan.FromHours(3), TimeSpan.FromDays(30) })
        {
            var check = TaskDecisions.AfterCheck(Record(age, failuresBefore), CheckOutcome.Failed, SweepStart, SweepStart.AddSeconds(30), Deployed);
            Assert.Equal(Ms(SweepStart.AddMinutes(dueAfterMinutes)), check.NextCheckAt); // the age never matters
            Assert.Equal(failuresBefore + 1, check.Failures);
        }
    }

    [Fact]
    public void A_failed_check_is_found_by_the_next_tick_even_a_little_early_or_late_and_by_no_earlier_one()
    {
        var check = TaskDecisions.AfterCheck(Record(TimeSpan.FromHours(3)), CheckOutcome.Failed, SweepStart, SweepStart.AddSeconds(45), Deployed);
        Assert.True(check.NextCheckAt <= Ms(SweepStart.AddMinutes(5).AddMinutes(-2))); // a tick two minutes early
        Assert.True(check.NextCheckAt > Ms(SweepStart.AddSeconds(50)));                 // never again in this sweep
    }

    [Fact]
    public void A_long_check_under_a_short_interval_is_still_not_due_again_before_the_next_sweep()
    {
        var minute = Deployed with { SweepInterval = TimeSpan.FromMinutes(1) };
        var checkedAt = SweepStart.AddSeconds(45); // past half an interval
        var check = TaskDecisions.AfterCheck(Record(TimeSpan.FromHours(1)), CheckOutcome.Failed, SweepStart, checkedAt, minute);
        Assert.Equal(Ms(checkedAt) + 1, check.NextCheckAt);
    }

    [Fact]
    public void A_cut_check_writes_nothing() =>
        Assert.Throws<ArgumentException>(() => TaskDecisions.AfterCheck(Record(TimeSpan.FromMinutes(6)), CheckOutcome.Cut, SweepStart, SweepStart, Deployed));

    [Fact]
    public async Task The_token_bucket_allows_its_burst_then_one_take_per_refill()
    {
        var time = new FakeTimeProvider(SweepStart);
        var bucket = new TokenBucket(ratePerSecond: 10, capacity: 5, time);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(bucket.TakeAsync().IsCompletedSuccessfully);
        }
        var sixth = bucket.TakeAsync().AsTask();
        var seventh = bucket.TakeAsync().AsTask();
        Assert.False(sixth.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(100));
        await sixth.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(seventh.IsCompleted); // callers are served in order, one refill each
        time.Advance(TimeSpan.FromMilliseconds(100));
        await seventh.WaitAsync(TimeSpan.FromSeconds(5));
        // Idle time refills no more than the burst.
        time.Advance(TimeSpan.FromMinutes(1));
        for (var i = 0; i < 5; i++)
        {
            Assert.True(bucket.TakeAsync().IsCompletedSuccessfully);
        }
        Assert.False(bucket.TakeAsync().IsCompleted);
    }

    [Theory]
    [InlineData(null, 150)]
    [InlineData("", 150)]
    [InlineData("40", 40)]
    [InlineData("2.5", 2.5)]
    public void The_sweep_rate_setting_defaults_to_half_the_smaller_published_refill(string? value, double expected) =>
        Assert.Equal(expected, SettingsWith(value).SweepCallsPerSecond);

    private static BatchSyncSettings SettingsWith(string? sweepRate) => BatchSyncSettings.From(new AwsSettings(name => name switch
    {
        "BATCHSYNC_NAMESPACE" => "stack", "BATCHSYNC_TABLE" => "stack-jobs", "AWS_REGION" => "us-east-1",
        "BATCHSYNC_SWEEP_CALLS_PER_SECOND" => sweepRate,
        _ => null,
    }));

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("fast")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    public void A_bad_sweep_rate_fails_the_cold_start_by_name(string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => SettingsWith(value));
        Assert.Contains("BATCHSYNC_SWEEP_CALLS_PER_SECOND", error.Message);
        Assert.Contains(value, error.Message);
    }

    [Fact]
    public void The_windows_fit_inside_the_invocations_budget()
    {
        var deployed = SweepWindows.For(TimeSpan.FromSeconds(40), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(50));
        Assert.Equal((TimeSpan.FromSeconds(40), TimeSpan.FromSeconds(44), TimeSpan.FromSeconds(50)), (deployed.StartChecksUntil, deployed.CutChecksAt, deployed.RecordBy));
        var small = SweepWindows.For(TimeSpan.FromSeconds(40), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(8));
        Assert.Equal(TimeSpan.FromSeconds(8), small.RecordBy);
        Assert.Equal(TimeSpan.FromSeconds(4), small.StartChecksUntil);
        Assert.True(small.CutChecksAt > small.StartChecksUntil && small.CutChecksAt < small.RecordBy);
    }

    private static Reconciler Sweeper(FakeWorld world, TimeProvider clock, TimeSpan budget, int concurrency = 4, double rate = 1000) =>
        new(world.Batch, world.StepFunctions, world.Store, FakeWorld.Namespace, clock, Deployed)
        {
            SweepBudget = budget, Concurrency = concurrency, PassSize = 100, RecordBatch = 5, SweepCallsPerSecond = rate,
            CheckGrace = TimeSpan.FromMilliseconds(300), RecordingSlice = TimeSpan.FromSeconds(2),
        };

    /// <summary>What Step Functions answers a call beyond its quota (after the transport's retries).</summary>
    private static AwsServiceException Throttled(SentAnswer call) =>
        new("AWSStepFunctions", call.Operation, HttpStatusCode.BadRequest, "ThrottlingException", "Rate exceeded", "r");

    private static List<string> HeartbeatedTokens(FakeWorld world) =>
        world.StepFunctions.Sent.Where(s => s.Operation == "SendTaskHeartbeat").Select(s => s.Token).ToList();

    [Fact]
    public async Task A_pass_that_outlasts_its_budget_keeps_every_completed_check_and_the_next_sweep_moves_on()
    {
        var world = new FakeWorld();
        world.AddDueTasks(300);
        world.StepFunctions.Delay = TimeSpan.FromMilliseconds(40); // slow heartbeats: one sweep reaches only part of the due set
        var clock = new FixedClock(DateTimeOffset.UtcNow);
        var sweeper = Sweeper(world, clock, TimeSpan.FromSeconds(1));

        var first = await sweeper.SweepAsync(new SweepRequest(1, 1));

        var checkedFirst = HeartbeatedTokens(world);
        Assert.InRange(first.Examined, 1, 299);
        // Counted from the store, not from the answer: every task heartbeated has moved out, the others are still due.
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var movedOut = world.Store.Records.Values.Where(r => r.NextCheckAt > now).Select(r => r.TaskToken).Order().ToList();
        Assert.Equal(checkedFirst.Distinct().Order().ToList(), movedOut);
        Assert.Equal(first.Examined, first.Recorded);
        Assert.Equal(300 - first.Examined, world.Store.Records.Values.Count(r => r.NextCheckAt <= now));

        var second = await sweeper.SweepAsync(new SweepRequest(1, 1));
        var checkedSecond = HeartbeatedTokens(world).Skip(checkedFirst.Count).ToList();
        Assert.Empty(checkedSecond.Intersect(checkedFirst)); // a record checked is not due again before its next check
        // The second sweep starts where the first stopped: the oldest of the rest (t<n> is older as n is smaller).
        Assert.Equal($"t{first.Examined}", checkedSecond.OrderBy(t => int.Parse(t[1..])).First());
        Assert.True(second.Examined > 0);
    }

    [Fact]
    public async Task A_failed_reschedule_leaves_only_its_own_batch_due()
    {
        var world = new FakeWorld();
        world.AddDueTasks(40);
        var refused = new List<string>();
        world.Store.RescheduleFailure = batch =>
        {
            lock (refused)
            {
                if (refused.Count > 0)
                {
                    return null;
                }
                refused.AddRange(batch.Select(c => c.TaskKey));
                return new TimeoutException("DynamoDB TransactWriteItems took longer than 5 s.");
            }
        };
        var clock = new FixedClock(DateTimeOffset.UtcNow);

        var swept = await Sweeper(world, clock, TimeSpan.FromSeconds(10)).SweepAsync(new SweepRequest(1, 1));

        Assert.Equal(40, swept.Examined);
        Assert.Equal(5, refused.Count);
        Assert.Equal(35, swept.Recorded);
        Assert.Equal(5, swept.LeftDue);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        Assert.Equal(refused.Order(), world.Store.Records.Values.Where(r => r.NextCheckAt <= now).Select(r => r.TaskKey).Order());
    }

    [Fact]
    public async Task Heartbeats_throttled_past_their_retries_are_tried_again_at_the_next_sweep_not_an_hour_later()
    {
        var world = new FakeWorld();
        world.AddDueTasks(30);
        foreach (var key in world.Store.Records.Keys.ToList())
        {
            // Old tasks: their age schedule would put them an hour out.
            world.Store.Records[key] = world.Store.Records[key] with { CreatedAt = DateTimeOffset.UtcNow.AddDays(-2).ToUnixTimeMilliseconds() };
        }
        var throttled = new HashSet<string>(Enumerable.Range(0, 30).Where(i => i % 3 == 0).Select(i => $"t{i}"));
        world.StepFunctions.FailBefore = call => throttled.Contains(call.Token)
            ? Throttled(call)
            : null;
        var start = DateTimeOffset.UtcNow;

        var first = await Sweeper(world, new FixedClock(start), TimeSpan.FromSeconds(10)).SweepAsync(new SweepRequest(1, 1));

        Assert.Equal(30, first.Examined);
        Assert.Equal(10, first.Errors);
        Assert.Equal(30, first.Recorded);
        foreach (var record in world.Store.Records.Values)
        {
            var failed = throttled.Contains(record.TaskToken);
            Assert.Equal(failed ? 1 : 0, record.CheckFailures);
            Assert.Equal(failed, record.NextCheckAt <= start.AddMinutes(5).ToUnixTimeMilliseconds());
        }

        // The next tick: only the failed ten are due, and now Step Functions takes them.
        world.StepFunctions.FailBefore = null;
        var before = HeartbeatedTokens(world).Count;
        var second = await Sweeper(world, new FixedClock(start.AddMinutes(5)), TimeSpan.FromSeconds(10)).SweepAsync(new SweepRequest(1, 1));
        Assert.Equal(10, second.Examined);
        Assert.Equal(0, second.Errors);
        Assert.Equal(throttled.Order(), HeartbeatedTokens(world).Skip(before).Order());
        Assert.All(world.Store.Records.Values, r => Assert.Equal(0, r.CheckFailures));
    }

    [Fact]
    public async Task A_lost_outcome_whose_first_delivery_fails_is_delivered_by_the_next_sweep()
    {
        var world = new FakeWorld();
        world.AddDueTasks(10, i => i == 9 ? "SUCCEEDED" : "RUNNING");
        world.StepFunctions.FailBefore = call => call.Operation == "SendTaskSuccess"
            ? Throttled(call)
            : null;
        var start = DateTimeOffset.UtcNow;

        var first = await Sweeper(world, new FixedClock(start), TimeSpan.FromSeconds(10)).SweepAsync(new SweepRequest(1, 1));
        Assert.Equal(0, first.Delivered);
        Assert.Equal(1, first.Errors);

        world.StepFunctions.FailBefore = null;
        var second = await Sweeper(world, new FixedClock(start.AddMinutes(5)), TimeSpan.FromSeconds(10)).SweepAsync(new SweepRequest(1, 1));
        Assert.Equal(1, second.Delivered);
        Assert.Equal(1, second.Examined); // only the failed one was due again
        Assert.Equal(RecordStatus.Succeeded, world.Store.Records[TaskKey.For("t9")].Status);
        Assert.Equal(0, world.StepFunctions.SecondAnswers("t9"));
    }

    [Fact]
    public async Task A_poison_record_backs_off_and_blocks_no_other_check()
    {
        var world = new FakeWorld();
        world.AddDueTasks(12);
        world.StepFunctions.FailBefore = call => call.Token == "t0" ? new InvalidOperationException("a bug on this record") : null;
        var at = DateTimeOffset.UtcNow;
        var checksOfPoison = 0;
        for (var tick = 0; tick < 8; tick++, at = at.AddMinutes(5))
        {
            var swept = await Sweeper(world, new FixedClock(at), TimeSpan.FromSeconds(10)).SweepAsync(new SweepRequest(1, 1));
            checksOfPoison += swept.Errors;
        }
        // Checked at ticks 0, 1, 3, 7 (gaps of 1, 2, 4 sweeps): four times in eight ticks, and everybody else went on.
        Assert.Equal(4, checksOfPoison);
        Assert.Equal(4, world.Store.Records[TaskKey.For("t0")].CheckFailures);
        Assert.All(Enumerable.Range(1, 11), i => Assert.Contains($"t{i}", HeartbeatedTokens(world)));
    }

    [Fact]
    public async Task The_sweep_paces_its_Step_Functions_calls()
    {
        var world = new FakeWorld();
        world.AddDueTasks(30);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        // 20 a second for the whole sweep, a burst of 20: 30 calls need at least half a second more than the burst.
        var swept = await Sweeper(world, new FixedClock(DateTimeOffset.UtcNow), TimeSpan.FromSeconds(10), concurrency: 16, rate: 20).SweepAsync(new SweepRequest(1, 1));
        Assert.Equal(30, swept.Examined);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(450), $"30 calls at 20 a second took {watch.Elapsed.TotalMilliseconds:0} ms");
    }

    [Fact]
    public void A_sweep_metric_record_says_what_the_sweep_recorded_left_due_and_failed()
    {
        var written = LogCapture.Capture(() => Metrics.Sweep(new SweepTotals(9, null, 1, null, 0, ChecksRecorded: 8, ChecksLeftDue: 3, CheckFailures: 2)));
        var record = written.Split('\n', StringSplitOptions.RemoveEmptyEntries).Single();
        EmbeddedMetricFormat.AssertValid(record);
        var root = JsonDocument.Parse(record).RootElement;
        Assert.Equal(8, root.GetProperty("SweepChecksRecorded").GetInt32());
        Assert.Equal(3, root.GetProperty("SweepChecksLeftDue").GetInt32());
        Assert.Equal(2, root.GetProperty("SweepCheckFailures").GetInt32());
        var names = root.GetProperty("_aws").GetProperty("CloudWatchMetrics")[0].GetProperty("Metrics").EnumerateArray().Select(m => m.GetProperty("Name").GetString());
        Assert.Contains("SweepChecksLeftDue", names);
    }
}
