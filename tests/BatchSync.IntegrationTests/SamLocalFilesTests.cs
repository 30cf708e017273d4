using System.Diagnostics;
using System.Text.Json.Nodes;

namespace BatchSync.IntegrationTests;

/// <summary>The files `sam local` users run with (README, "Local workflow") stay true to template.yaml.</summary>
public class SamLocalFilesTests
{
    [Fact]
    public void The_env_file_gives_every_function_each_variable_the_template_declares()
    {
        var env = JsonNode.Parse(File.ReadAllText(Path.Combine(SamTemplate.RepoRoot, "env.json")))!.AsObject();
        var values = env["Parameters"]!.AsObject().ToDictionary(p => p.Key, p => (string)p.Value!);
        var stack = values["BATCHSYNC_NAMESPACE"];
        // What CloudFormation would give a stack of that name whose table the local world names <stack>-jobs, in the
        // account sam local and moto use (BATCHSYNC_ACCOUNT_ID is !Ref AWS::AccountId).
        var declared = SamTemplate.FunctionEnvironment(stack, new Dictionary<string, string> { ["JobTable"] = $"{stack}-jobs", ["AWS::AccountId"] = AwsWorld.Account });

        Assert.Equal(declared.Keys.Order(), values.Keys.Order());
        Assert.All(declared, variable => Assert.Equal(variable.Value, values[variable.Key]));
        Assert.Equal(["Parameters"], env.Select(p => p.Key));
    }

    [Fact]
    public async Task The_local_template_is_template_yaml_plus_the_endpoint_variable()
    {
        var output = Path.Combine(Path.GetTempPath(), $"template.local.{Guid.NewGuid():N}.json");
        try
        {
            var start = new ProcessStartInfo("python3", [Path.Combine(SamTemplate.RepoRoot, "tools", "sam_local_template.py"), "--endpoint", "http://127.0.0.1:5999", "--out", output])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using (var process = Process.Start(start)!)
            {
                var error = process.StandardError.ReadToEndAsync();
                await process.StandardOutput.ReadToEndAsync();
                await process.WaitForExitAsync();
                Assert.True(process.ExitCode == 0, await error);
            }
            var local = JsonNode.Parse(await File.ReadAllTextAsync(output))!.AsObject();
            var variables = local["Globals"]!["Function"]!["Environment"]!["Variables"]!.AsObject();

            Assert.Equal("http://127.0.0.1:5999", (string)variables["AWS_ENDPOINT_URL"]!);
            variables.Remove("AWS_ENDPOINT_URL");
            Assert.Equal(SamTemplate.Json.ToJsonString(), local.ToJsonString());
            // template.yaml itself never declares it: an empty AWS_ENDPOINT_URL breaks the SDK's DynamoDB client (DEVELOPERS.md).
            Assert.Null(SamTemplate.Json["Globals"]!["Function"]!["Environment"]!["Variables"]!["AWS_ENDPOINT_URL"]);
        }
        finally
        {
            File.Delete(output);
        }
    }
}
