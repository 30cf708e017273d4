namespace BatchSync.Aws;

/// <summary>
/// A value made on its first use, once, however many threads ask at once — and, unlike <see cref="Lazy{T}"/>, a
/// failure to make it is not kept: the next use tries again (a client that could not be made during one invocation,
/// e.g. credentials not yet readable, must not fail every later invocation of the same process).
/// </summary>
public sealed class OnFirstUse<T>(Func<T> create) where T : class
{
    private readonly object _gate = new();
    private T? _value;

    public bool IsCreated => Volatile.Read(ref _value) is not null;

    public T Value => Volatile.Read(ref _value) ?? Create();

    private T Create()
    {
        lock (_gate)
        {
            if (_value is null)
            {
                Volatile.Write(ref _value, create());
            }
            return _value!;
        }
    }
}
