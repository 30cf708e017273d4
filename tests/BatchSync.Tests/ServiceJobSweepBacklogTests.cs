using System.Text.Json;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>
/// A sweep with more due service jobs than its describe rate reaches in one window (each is one paced DescribeServiceJob):
/// it checks what the rate allows, the rest stay due, and sweep after sweep the backlog is worked through — a container
/// job due in the same pass is checked at once. (Before, every record of such a pass was left due, sweep after sweep:
/// found by review and by the sweep benchmark, BENCHMARKS.md §4c.)
/// </summary>
[Collection(LogCapture.Collection)]
public class ServiceJobSweepBacklogTests
{
    private readonly FakeWorld _world = new();

    [Fact]
    public async Task A_backlog_of_service_jobs_is_worked_through_a_windows_worth_a_sweep_and_a_container_job_beside_it_is_answered_at_once()
    {
        const int ServiceJobs = 60;
        for (var i = 0; i < ServiceJobs; i++)
        {
            var key = TaskKey.For($"s{i}");
            _world.Store.Records[key] = new TaskRecord
            {
                TaskKey = key, TaskToken = $"s{i}", Status = RecordStatus.Submitted, JobId = $"svc-{i}", JobKind = JobKind.Service,
                JobName = "train", JobQueue = "q", CreatedAt = i, NextCheckAt = i,
            };
            var marker = TaskKey.Marker(FakeWorld.Namespace, key);
            _world.Batch.Jobs[$"svc-{i}"] = JsonDocument.Parse($$$"""{"jobId":"svc-{{{i}}}","jobName":"train","jobArn":"arn:aws:batch:us-east-1:123456789012:service-job/svc-{{{i}}}","jobQueue":"q","serviceJobType":"SAGEMAKER_TRAINING","status":"SUCCEEDED","startedAt":1,"tags":{"BatchSyncTask":"{{{marker}}}"}}""").RootElement.Clone();
        }
        // A container job due after all of them, whose final event was lost too.
        var container = TaskKey.For("c0");
        _world.Store.Records[container] = new TaskRecord { TaskKey = container, TaskToken = "c0", Status = RecordStatus.Submitted, JobId = "job-0", CreatedAt = 100, NextCheckAt = 100 };
        _world.Batch.Jobs["job-0"] = FakeWorld.Detail(FakeWorld.Event("job-0", "SUCCEEDED", TaskKey.Marker(FakeWorld.Namespace, container)));

        // The default 10 describes a second and a 2 s window: 60 service jobs need 6 s of describes.
        var reconciler = new Processing.Reconciler(_world.Batch, _world.StepFunctions, _world.Store, FakeWorld.Namespace, TimeProvider.System)
        {
            SweepBudget = TimeSpan.FromSeconds(2), CheckGrace = TimeSpan.FromMilliseconds(300), RecordingSlice = TimeSpan.FromMilliseconds(300),
        };
        var first = await reconciler.SweepAsync();
        Assert.InRange(first.Delivered, 2, ServiceJobs / 2);
        Assert.Equal(first.Delivered, first.Examined);
        Assert.Equal(ServiceJobs + 1 - first.Examined, first.LeftDue);
        Assert.Contains(_world.StepFunctions.Sent, a => a.Token == "c0" && a.Operation == "SendTaskSuccess");
        Assert.Equal(first.Examined - 1, _world.Log.Calls.Count(c => c == "Batch.DescribeServiceJob"));

        var sweeps = 1;
        while (_world.Store.Records.Values.Any(r => !r.IsFinished) && sweeps < 30)
        {
            var next = await reconciler.SweepAsync();
            Assert.True(next.Delivered > 0, $"sweep {sweeps + 1} delivered nothing: {next}");
            sweeps++;
        }
        Assert.All(_world.Store.Records.Values, r => Assert.Equal(RecordStatus.Succeeded, r.Status));
        Assert.Equal(ServiceJobs + 1, _world.StepFunctions.Sent.Count(a => a.Operation == "SendTaskSuccess"));
        Assert.Equal(ServiceJobs, _world.Log.Calls.Count(c => c == "Batch.DescribeServiceJob"));
    }
}
