using System.Text.Json;
using BatchSync.Domain;
using BatchSync.Mapping;

namespace BatchSync.Tests;

/// <summary>The service-job samples in events/ (for <c>sam local invoke</c>) are what the functions take.</summary>
public class ServiceJobSampleEventsTests
{
    private static string Sample(string name) => Path.Combine(SubmitGoldenTests.RepoRoot(), "events", name);

    [Fact]
    public void The_sample_service_job_payload_maps_to_a_SubmitServiceJob_request_with_the_payload_as_written()
    {
        var payload = File.ReadAllBytes(Sample("submit-service-job.json"));
        var mapping = SubmitRequestMapper.Read(payload).WithMarker("batchsync-local:" + TaskKey.For("AQCEAAAAKgAAAAMAAAAAAAAAAexampleTaskToken"));
        Assert.True(mapping.IsValid, InputProblem.Describe(mapping.Problems));
        var request = mapping.Request!;
        Assert.Equal((JobKind.Service, "arn:aws:iam::123456789012:role/SageMakerExecutionRole"), (request.Kind, request.ServiceRole));
        using var body = JsonDocument.Parse(request.Body);
        using var given = JsonDocument.Parse(payload);
        Assert.Equal(given.RootElement.GetProperty("ServiceRequestPayload").GetString(), body.RootElement.GetProperty("serviceRequestPayload").GetString());
        Assert.Equal("SAGEMAKER_TRAINING", body.RootElement.GetProperty("serviceJobType").GetString());
    }

    [Fact]
    public void The_sample_service_job_event_is_the_User_Guides_and_parses_as_a_service_jobs_without_a_marker()
    {
        var sample = File.ReadAllText(Sample("service-job-state-change-succeeded.json"));
        Assert.Equal(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "service-jobs", "event-userguide.json")), sample);
        using var doc = JsonDocument.Parse(sample);
        var evt = JobStateEvent.Parse(doc.RootElement, copyDetail: true);
        Assert.Equal((JobKind.Service, "SUCCEEDED", null), (evt.Kind, evt.Status, evt.Marker));
    }
}

/// <summary>The role AllowedServiceRoles checks is the one SageMaker gets: no second RoleArn can hide behind it.</summary>
public class ServiceRoleSmugglingTests
{
    private static string Problems(string trainingJob) =>
        InputProblem.Describe(SubmitRequestMapper.Read(System.Text.Encoding.UTF8.GetBytes(new System.Text.Json.Nodes.JsonObject
        {
            ["JobName"] = "j", ["JobQueue"] = "q", ["ServiceJobType"] = "SAGEMAKER_TRAINING", ["ServiceRequestPayload"] = trainingJob,
        }.ToJsonString())).WithMarker(null).Problems);

    [Theory]
    [InlineData("""{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:role/allowed","RoleArn":"arn:aws:iam::123456789012:role/admin"}""")]
    [InlineData("""{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:role/allowed","roleArn":"arn:aws:iam::123456789012:role/admin"}""")]
    [InlineData("""{"TrainingJobName":"t","ROLEARN":"arn:aws:iam::123456789012:role/admin","RoleArn":"arn:aws:iam::123456789012:role/allowed"}""")]
    public void A_second_RoleArn_in_any_casing_is_refused(string trainingJob) =>
        Assert.Contains("ServiceRequestPayload.RoleArn: must be given once, spelt RoleArn", Problems(trainingJob));

    [Fact]
    public void One_RoleArn_passes() =>
        Assert.Equal("", Problems("""{"TrainingJobName":"t","RoleArn":"arn:aws:iam::123456789012:role/allowed"}"""));
}
