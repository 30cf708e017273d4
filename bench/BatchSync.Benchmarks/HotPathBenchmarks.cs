using System.Text.Json;
using BatchSync.Mapping;
using BatchSync.Domain;
using BenchmarkDotNet.Attributes;

namespace BatchSync.Benchmarks;

/// <summary>
/// The per-invocation CPU work without network: a SubmitJob payload to the Batch request, and a real "Batch Job State
/// Change" event (ecsProperties job, SUCCEEDED) to the native-shaped output. Each beside its floor: one bare
/// Utf8JsonReader pass over the same bytes.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class HotPathBenchmarks
{
    private byte[] _submit = [];
    private byte[] _event = [];

    [GlobalSetup]
    public void Setup()
    {
        _submit = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Data", "submit-job.json"));
        _event = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Data", "succeeded-ecs-properties.json"));
        _ = Model.BatchShapes.Instance; // the model is read once per process, not per invocation
    }

    [Benchmark(Description = "floor: Utf8JsonReader over the SubmitJob payload")]
    public int SubmitFloor() => ReadAll(_submit);

    [Benchmark(Description = "SubmitJob payload -> validated Batch request bytes")]
    public int SubmitPayloadToBatchRequest()
    {
        var mapping = SubmitRequestMapper.Read(_submit).WithMarker("stack:key");
        return mapping.Request!.Body.Length;
    }

    [Benchmark(Description = "floor: Utf8JsonReader over the Batch event")]
    public int EventFloor() => ReadAll(_event);

    [Benchmark(Description = "Batch event -> native output text")]
    public int EventToNativeOutput()
    {
        using var doc = JsonDocument.Parse(_event);
        var evt = JobStateEvent.Parse(doc.RootElement, copyDetail: false);
        return Processing.TaskResponder.NativeOutput(evt.Detail, null).Length;
    }

    private static int ReadAll(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        var tokens = 0;
        while (reader.Read())
        {
            tokens++;
        }
        return tokens;
    }
}
