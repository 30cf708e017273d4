using System.Text.Json;
using System.Text.Json.Nodes;
using BatchSync.Mapping;

namespace BatchSync.Tests;

/// <summary>The marker is BatchSync's and left out of answers: a container job's parameter, a service job's tag — and only that.</summary>
public class MarkerInAnswersTests
{
    private static JsonNode Answer(string detail) =>
        JsonNode.Parse(NativeOutputMapper.ToNativeText(JsonDocument.Parse(detail).RootElement, OutputBudget.Output))!;

    [Fact]
    public void A_service_jobs_marker_tag_is_left_out_and_its_other_tags_kept()
    {
        var answer = Answer("""{"jobId":"s","jobName":"n","jobQueue":"q","serviceJobType":"SAGEMAKER_TRAINING","status":"SUCCEEDED","startedAt":1,"tags":{"BatchSyncTask":"stack:key","team":"ml"}}""");
        Assert.Equal("""{"team":"ml"}""", answer["Tags"]!.ToJsonString());
    }

    [Fact]
    public void A_container_jobs_own_tag_of_the_markers_name_is_the_callers_and_kept_while_its_marker_parameter_is_left_out()
    {
        var answer = Answer("""{"jobId":"j","jobName":"n","jobQueue":"q","jobDefinition":"d","status":"SUCCEEDED","startedAt":1,"parameters":{"BatchSyncTask":"stack:key","in":"x"},"tags":{"BatchSyncTask":"mine"}}""");
        Assert.Equal("""{"in":"x"}""", answer["Parameters"]!.ToJsonString());
        Assert.Equal("""{"BatchSyncTask":"mine"}""", answer["Tags"]!.ToJsonString());
    }
}
