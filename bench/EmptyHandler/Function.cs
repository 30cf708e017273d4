namespace EmptyHandler;

/// <summary>The cold-start baseline: a Lambda class-library handler that does nothing.</summary>
public sealed class Function
{
    public Task<Stream> Handler(Stream input) => Task.FromResult<Stream>(new MemoryStream("{}"u8.ToArray()));
}
