using System.Text.Json;
using BatchSync.Domain;

namespace BatchSync.Tests;

public class TaskDecisionsTests
{
    private const string Ns = FakeWorld.Namespace;
    private static readonly string Key = TaskKey.For("token");
    private static readonly string Marker = TaskKey.Marker(Ns, Key);

    private static JobStateEvent Evt(string jobId, string status, string? marker = null) =>
        JobStateEvent.Parse(JsonDocument.Parse(FakeWorld.Event(jobId, status, marker ?? Marker)).RootElement, copyDetail: true);

    private static TaskRecord Record(RecordStatus status, string? jobId = "job-1") =>
        new() { TaskKey = Key, TaskToken = "token", Status = status, JobId = jobId };

    public static readonly string[] AllStatuses = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"];

    public static TheoryData<string, RecordStatus> EveryStatusAndFinishedRecord()
    {
        var data = new TheoryData<string, RecordStatus>();
        foreach (var s in AllStatuses)
        {
            foreach (var r in new[] { RecordStatus.Succeeded, RecordStatus.Failed, RecordStatus.Closed })
            {
                data.Add(s, r);
            }
        }
        return data;
    }

    [Theory]
    [InlineData("job-1:0")]
    [InlineData("job-1:9999")]
    [InlineData("job-1#0")]
    [InlineData("job-1#3")]
    public void Child_jobs_are_ignored_even_with_the_parents_marker(string childId)
    {
        foreach (var status in AllStatuses)
        {
            var decision = TaskDecisions.OnJobEvent(Evt(childId, status), Ns, Record(RecordStatus.Submitted));
            Assert.IsType<EventDecision.Ignore>(decision);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("no-colon")]
    [InlineData("otherstack:abc")]
    [InlineData(":abc")]
    [InlineData("teststack:")]
    public void Foreign_or_malformed_markers_are_ignored(string marker)
    {
        var evt = JobStateEvent.Parse(JsonDocument.Parse(FakeWorld.Event("job-1", "SUCCEEDED", marker)).RootElement, copyDetail: true);
        Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(evt, Ns, Record(RecordStatus.Submitted)));
    }

    [Fact]
    public void Jobs_without_a_marker_are_ignored()
    {
        var evt = JobStateEvent.Parse(JsonDocument.Parse(FakeWorld.Event("job-1", "SUCCEEDED", null)).RootElement, copyDetail: true);
        Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(evt, Ns, null));
    }

    [Theory]
    [MemberData(nameof(AllStatusesData))]
    public void An_event_that_beats_its_record_is_retried_not_dropped(string status)
    {
        Assert.IsType<EventDecision.RetryLater>(TaskDecisions.OnJobEvent(Evt("job-1", status), Ns, null));
    }

    public static TheoryData<string> AllStatusesData() => new(AllStatuses);

    [Theory]
    [MemberData(nameof(EveryStatusAndFinishedRecord))]
    public void Once_finished_no_event_changes_anything(string status, RecordStatus finished)
    {
        Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(Evt("job-1", status), Ns, Record(finished)));
    }

    [Theory]
    [InlineData(RecordStatus.Submitting, null)]
    [InlineData(RecordStatus.Submitting, "job-1")]
    [InlineData(RecordStatus.Submitted, "job-1")]
    public void Terminal_events_deliver_for_open_records(RecordStatus open, string? jobId)
    {
        Assert.Equal(new EventDecision.Deliver(true), TaskDecisions.OnJobEvent(Evt("job-1", "SUCCEEDED"), Ns, Record(open, jobId)));
        Assert.Equal(new EventDecision.Deliver(false), TaskDecisions.OnJobEvent(Evt("job-1", "FAILED"), Ns, Record(open, jobId)));
    }

    [Theory]
    [InlineData("SUBMITTED")]
    [InlineData("PENDING")]
    [InlineData("RUNNABLE")]
    [InlineData("STARTING")]
    [InlineData("RUNNING")]
    public void Progress_events_heartbeat_and_attach_a_missing_job_id(string status)
    {
        Assert.Equal(new EventDecision.Heartbeat(false), TaskDecisions.OnJobEvent(Evt("job-1", status), Ns, Record(RecordStatus.Submitted)));
        Assert.Equal(new EventDecision.Heartbeat(true), TaskDecisions.OnJobEvent(Evt("job-1", status), Ns, Record(RecordStatus.Submitting, null)));
    }

    [Fact]
    public void An_event_of_another_job_carrying_the_same_key_is_ignored()
    {
        Assert.IsType<EventDecision.Ignore>(TaskDecisions.OnJobEvent(Evt("job-2", "SUCCEEDED"), Ns, Record(RecordStatus.Submitted, "job-1")));
    }

    [Theory]
    [InlineData(TaskReply.Accepted, true, RecordStatus.Succeeded)]
    [InlineData(TaskReply.Accepted, false, RecordStatus.Failed)]
    [InlineData(TaskReply.TaskClosed, true, RecordStatus.Closed)]
    [InlineData(TaskReply.TaskClosed, false, RecordStatus.Closed)]
    [InlineData(TaskReply.InvalidToken, true, RecordStatus.Closed)]
    [InlineData(TaskReply.InvalidToken, false, RecordStatus.Closed)]
    public void Answers_end_records(TaskReply answer, bool succeeded, RecordStatus expected)
    {
        var ending = TaskDecisions.AfterAnswer(answer, succeeded, "job X");
        Assert.Equal(expected, ending.Status);
        Assert.StartsWith("job X", ending.Reason);
    }

    [Fact]
    public void Callbacks_are_decided_by_record_state()
    {
        var result = new CallbackRequest("job-1", CallbackKind.Result, "{}", null, null);
        var heartbeat = new CallbackRequest("job-1", CallbackKind.Heartbeat, null, null, null);
        var failure = new CallbackRequest("job-1", CallbackKind.Failure, null, "E", "C");
        foreach (var request in new[] { result, heartbeat, failure })
        {
            Assert.IsType<JobNotFoundException>(Assert.IsType<CallbackDecision.Reject>(TaskDecisions.OnCallback(request, null)).Error);
            foreach (var finished in new[] { RecordStatus.Succeeded, RecordStatus.Failed, RecordStatus.Closed })
            {
                Assert.IsType<TaskAlreadyFinishedException>(Assert.IsType<CallbackDecision.Reject>(TaskDecisions.OnCallback(request, Record(finished))).Error);
            }
        }
        foreach (var open in new[] { RecordStatus.Submitting, RecordStatus.Submitted })
        {
            Assert.Equal(new CallbackDecision.StoreResult("{}"), TaskDecisions.OnCallback(result, Record(open)));
            Assert.IsType<CallbackDecision.SendHeartbeat>(TaskDecisions.OnCallback(heartbeat, Record(open)));
            Assert.Equal(new CallbackDecision.SendFailure("E", "C"), TaskDecisions.OnCallback(failure, Record(open)));
        }
    }

    [Fact]
    public void Task_keys_are_stable_opaque_and_distinct()
    {
        Assert.Equal(TaskKey.For("a"), TaskKey.For("a"));
        Assert.NotEqual(TaskKey.For("a"), TaskKey.For("b"));
        Assert.Equal(43, TaskKey.For("a").Length);
        const string token = "AQB8AAAAKgAAAAMAAAAAAAAAAeXampleT0ken";
        Assert.DoesNotContain(token[..8], TaskKey.For(token), StringComparison.Ordinal);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", TaskKey.For(token));
        Assert.Equal(("my:stack", "k"), TaskKey.ParseMarker("my:stack:k"));
        Assert.Null(TaskKey.ParseMarker(null));
    }

    [Theory]
    [InlineData("""{"detail-type":"Other","source":"aws.batch","detail":{}}""", "detail-type")]
    [InlineData("""{"detail-type":"Batch Job State Change","source":"aws.ecs","detail":{}}""", "source")]
    [InlineData("""{"detail-type":"Batch Job State Change","source":"aws.batch"}""", "detail must be an object")]
    [InlineData("""{"detail-type":"Batch Job State Change","source":"aws.batch","detail":{"status":"RUNNING"}}""", "detail.jobId")]
    [InlineData("""{"detail-type":"Batch Job State Change","source":"aws.batch","detail":{"jobId":"x","status":7}}""", "detail.status")]
    [InlineData("""[]""", "must be a JSON object")]
    public void Malformed_events_are_named(string json, string expected)
    {
        var error = Assert.Throws<InvalidEventException>(() => JobStateEvent.Parse(JsonDocument.Parse(json).RootElement, copyDetail: true));
        Assert.Contains(expected, error.Message);
        Assert.Equal("BatchSync.InvalidEvent", error.ErrorName);
    }
}
