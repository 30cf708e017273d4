using System.Text;
using System.Text.Json;
using BatchSync.Processing;

namespace BatchSync.Tests;

/// <summary>
/// The functions write their responses by hand (<see cref="IFunctionResponse.WriteJson"/>, no serializer metadata at cold
/// start); the bytes must be those System.Text.Json's source-generated serializer writes for the same response.
/// </summary>
public class ResponsesTests
{
    private static readonly string?[] Texts =
    [
        null, "", "job-1", "arn:aws:batch:us-east-1:123456789012:job/8f0c", "quote \" backslash \\ slash /",
        "<tag> & 'apostrophe' + plus", "é ü 日本 😀", "line\nbreak\ttab\u0001control", new string('x', 600),
    ];

    public static IEnumerable<object[]> Cases()
    {
        foreach (var t in Texts)
        {
            yield return [new SubmitJobResponse(t, t, t)];
            yield return [new SubmitJobResponse(null, null, t, Error: t, Cause: t, Note: t)];
            yield return [new JobStateChangeResponse("Succeeded", t ?? "job", t, t)];
            yield return [new CallbackResponse(t ?? "job", "ResultStored", Waiting: t is null, t)];
            yield return [new ReconcileResponse("Swept", 0, 1, -2, int.MaxValue, int.MinValue, t, 7)];
            yield return [new ReconcileResponse("Swept", 3, 1, 2, 0, 0, t, 1, Recorded: t is null ? null : 2, LeftDue: 9)];
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_hand_written_response_is_byte_for_byte_the_serializers(IFunctionResponse response)
    {
        var expected = response switch
        {
            SubmitJobResponse a => JsonSerializer.SerializeToUtf8Bytes(a, ResponseJsonContext.Default.SubmitJobResponse),
            JobStateChangeResponse a => JsonSerializer.SerializeToUtf8Bytes(a, ResponseJsonContext.Default.JobStateChangeResponse),
            CallbackResponse a => JsonSerializer.SerializeToUtf8Bytes(a, ResponseJsonContext.Default.CallbackResponse),
            ReconcileResponse a => JsonSerializer.SerializeToUtf8Bytes(a, ResponseJsonContext.Default.ReconcileResponse),
            _ => throw new ArgumentException(response.GetType().Name),
        };
        Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(ResponseJson.ToUtf8(response)));
    }

    [Fact]
    public void Every_member_of_every_response_is_written()
    {
        // A member added to a record but not to its WriteJson would be missing here (all members set).
        foreach (var (response, count) in new (IFunctionResponse, int)[]
        {
            (new SubmitJobResponse("a", "b", "c", "d", "e", "f"), 6), (new JobStateChangeResponse("a", "b", "c", "d"), 4),
            (new CallbackResponse("a", "b", true, "c"), 4), (new ReconcileResponse("a", 1, 2, 3, 4, 5, "b", 6, 7, 8), 10),
        })
        {
            Assert.Equal(count, response.GetType().GetProperties().Count(p => p.Name != "EqualityContract"));
            using var doc = JsonDocument.Parse(ResponseJson.ToUtf8(response));
            Assert.Equal(count, doc.RootElement.EnumerateObject().Count());
        }
    }
}
