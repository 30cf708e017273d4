using System.Text;
using System.Text.Json;
using BatchSync.Processing;
using BatchSync.Domain;

namespace BatchSync.Tests;

/// <summary>The sweep split into parts, one invocation each: what a part reads, and bad parts refused by name.</summary>
[Collection(LogCapture.Collection)] // sweeps write log and metric records to the process-wide sink
public class SweepPartsTests
{
    private static readonly string[] EveryShard = Enumerable.Range(0, 16).Select(i => $"OPEN#{i:D2}").ToArray();

    [Fact]
    public void For_any_number_of_parts_the_parts_read_every_shard_exactly_once()
    {
        for (var parts = 1; parts <= 16; parts++)
        {
            var read = Enumerable.Range(1, parts).SelectMany(part => new SweepRequest(part, parts).Shards).ToList();
            Assert.Equal(EveryShard, read.Order());
            Assert.All(Enumerable.Range(1, parts), part => Assert.NotEmpty(new SweepRequest(part, parts).Shards));
        }
    }

    [Theory]
    [InlineData("""{"Part": 2, "Parts": 4}""", 2, 4)]
    [InlineData("""{"Parts": 2}""", 1, 2)]
    [InlineData("""{}""", 1, 1)]
    [InlineData("""{"Part": 16, "Parts": 16}""", 16, 16)]
    public void Reads_part_and_parts(string json, int part, int parts)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(new SweepRequest(part, parts), SweepRequest.Parse(doc.RootElement));
    }

    [Theory]
    [InlineData("""[1, 4]""", "Sweep must be an object")]
    [InlineData("""{"Part": 5, "Parts": 4}""", "Sweep.Part must be at most Sweep.Parts (4), not 5")]
    [InlineData("""{"Part": 0, "Parts": 4}""", "Sweep.Part must be a whole number of at least 1, not")]
    [InlineData("""{"Part": "1", "Parts": 4}""", "Sweep.Part must be a whole number of at least 1, not")]
    [InlineData("""{"Part": 1.5, "Parts": 4}""", "Sweep.Part must be a whole number")]
    [InlineData("""{"Parts": 17}""", "Sweep.Parts must be at most 16")]
    [InlineData("""{"Shards": [1]}""", "Sweep.Shards is not a member; Sweep takes Part and Parts")]
    public void Refuses_a_bad_part_by_name(string json, string why)
    {
        using var doc = JsonDocument.Parse(json);
        var error = Assert.Throws<InvalidEventException>(() => SweepRequest.Parse(doc.RootElement));
        Assert.Equal(InvalidEventException.Name, error.ErrorName);
        Assert.Contains(why, error.Message);
    }

    [Fact]
    public async Task Four_parts_swept_at_once_check_every_due_record_once_and_each_part_only_its_own_shards()
    {
        var world = new FakeWorld();
        var keys = world.AddDueTasks(64);
        var reconciler = new Reconciler(world.Batch, world.StepFunctions, world.Store, FakeWorld.Namespace, TimeProvider.System);

        var answers = await Task.WhenAll(Enumerable.Range(1, 4).Select(part =>
            reconciler.HandleAsync(Encoding.UTF8.GetBytes($$$"""{"Sweep": {"Part": {{{part}}}, "Parts": 4}}"""))));

        Assert.All(answers, a => Assert.Equal("Swept", a.Action));
        Assert.Equal(64, answers.Sum(a => a.Examined));
        var heartbeats = world.StepFunctions.Sent.Where(s => s.Operation == "SendTaskHeartbeat").Select(s => s.Token).ToList();
        Assert.Equal(64, heartbeats.Count);
        Assert.Equal(64, heartbeats.Distinct().Count());
        // Part k examined exactly the records in the shards numbered k - 1 modulo 4 (the shard from the key's hash).
        for (var part = 1; part <= 4; part++)
        {
            var own = keys.Count(k => int.Parse(DueShards.Of(k)[5..]) % 4 == part - 1);
            Assert.Equal(own, answers[part - 1].Examined);
        }
    }

    [Fact]
    public async Task A_sweep_that_cannot_reach_every_due_record_delivers_the_ended_jobs_first()
    {
        var world = new FakeWorld();
        // The newest two jobs ended and their events were lost; the rest run on.
        world.AddDueTasks(40, i => i >= 38 ? "SUCCEEDED" : "RUNNING");
        var clock = new StepClock(DateTimeOffset.UtcNow, TimeSpan.FromMilliseconds(100));
        // 2 s: 20 readings of the clock, a handful of checks (the sweep reads it for its pacing too).
        var reconciler = new Reconciler(world.Batch, world.StepFunctions, world.Store, FakeWorld.Namespace, clock) { SweepBudget = TimeSpan.FromSeconds(2), Concurrency = 1 };

        var answer = await reconciler.SweepAsync();

        Assert.InRange(answer.Examined, 2, 39);
        Assert.Equal(2, answer.Delivered);
        Assert.Equal(["t38", "t39"], world.StepFunctions.Sent.Where(s => s.Operation == "SendTaskSuccess").Select(s => s.Token).Order());
    }

    [Fact]
    public async Task Reconcile_refuses_a_payload_that_is_neither_an_event_nor_a_sweep_part()
    {
        var reconciler = new Reconciler(new FakeWorld().Batch, new FakeWorld().StepFunctions, new FakeWorld().Store, FakeWorld.Namespace, TimeProvider.System);
        var error = await Assert.ThrowsAsync<InvalidEventException>(() => reconciler.HandleAsync(Encoding.UTF8.GetBytes("""{"Part": 1}""")));
        Assert.Contains("EventBridge events with a detail-type, or {\"Sweep\"", error.Message);
        var bad = await Assert.ThrowsAsync<InvalidEventException>(() => reconciler.HandleAsync(Encoding.UTF8.GetBytes("""{"Sweep": {"Part": 3, "Parts": 2}}""")));
        Assert.Contains("Sweep.Part must be at most Sweep.Parts (2), not 3", bad.Message);
    }
}
