using System.Text.Json;
using BatchSync.Model;

namespace BatchSync.Tests;

public class BatchShapesTests
{
    private static readonly JsonElement FullModel = Fixtures.Element("aws-models/batch-2016-08-10.service-2.json").GetProperty("shapes");

    [Fact]
    public void Embedded_shapes_match_the_official_model_member_for_member()
    {
        var full = BatchShapes.Parse(FullModel);
        var embedded = BatchShapes.Instance;
        Assert.NotEmpty(embedded.All);
        foreach (var shape in embedded.All)
        {
            var official = full[shape.Name];
            Assert.Equal(official.Kind, shape.Kind);
            Assert.Equal(official.MembersByWire.Values.OrderBy(m => m.WireName), shape.MembersByWire.Values.OrderBy(m => m.WireName));
            Assert.Equal(official.Required.Order(), shape.Required.Order());
            Assert.Equal(official.Enum?.Order(), shape.Enum?.Order());
            Assert.Equal((official.Member, official.Key, official.Value, official.Min, official.Max), (shape.Member, shape.Key, shape.Value, shape.Min, shape.Max));
        }
    }

    [Fact]
    public void Every_shape_reachable_from_the_roots_is_embedded()
    {
        var full = BatchShapes.Parse(FullModel);
        var seen = new HashSet<string>();
        var pending = new Stack<string>(["SubmitJobRequest", "SubmitJobResponse", "JobDetail", "SubmitServiceJobRequest", "DescribeServiceJobResponse"]);
        while (pending.TryPop(out var name))
        {
            if (!seen.Add(name))
            {
                continue;
            }
            var shape = full[name];
            foreach (var next in shape.MembersByWire.Values.Select(m => m.ShapeName).Concat(new[] { shape.Member, shape.Key, shape.Value }.OfType<string>()))
            {
                pending.Push(next);
            }
        }
        Assert.Equal(seen.Order(), BatchShapes.Instance.All.Select(s => s.Name).Order());
    }

    [Fact]
    public void SubmitJobRequest_has_every_member_the_native_integration_takes()
    {
        string[] expected =
        [
            "JobName", "JobQueue", "JobDefinition", "Parameters", "ContainerOverrides", "NodeOverrides", "EcsPropertiesOverride",
            "EksPropertiesOverride", "ConsumableResourcePropertiesOverride", "ArrayProperties", "DependsOn", "RetryStrategy",
            "Timeout", "Tags", "PropagateTags", "ShareIdentifier", "SchedulingPriorityOverride",
        ];
        Assert.Equal(expected.Order(), BatchShapes.Instance["SubmitJobRequest"].MembersByPascal.Keys.Order());
    }
}
