using BatchSync.Aws;
using BatchSync.Domain;
using BatchSync.Logging;

namespace BatchSync.Processing;

/// <summary>
/// Writes a sweep's checks as they complete, in small batches, one batch at a time, with a cancellation of its own
/// (never the invocation's deadline): a sweep cut short keeps every check it recorded, and a batch that could not be
/// written leaves only its own records due.
/// </summary>
public sealed class CheckRecorder(IRecordStore store, int batchSize, CancellationToken writeBy)
{
    private readonly object _gate = new();
    private readonly SemaphoreSlim _writer = new(1, 1);
    private readonly List<Task> _writes = [];
    private List<ScheduledCheck> _pending = [];
    private int _recorded;
    private int _notRecorded;

    /// <summary>Checks written.</summary>
    public int Recorded => Volatile.Read(ref _recorded);

    /// <summary>Checks whose write failed: their records stay due.</summary>
    public int NotRecorded => Volatile.Read(ref _notRecorded);

    /// <summary>Takes one completed check; a full batch starts its write at once.</summary>
    public void Add(ScheduledCheck check)
    {
        List<ScheduledCheck>? full = null;
        lock (_gate)
        {
            _pending.Add(check);
            if (_pending.Count >= batchSize)
            {
                full = _pending;
                _pending = [];
            }
        }
        if (full is not null)
        {
            Start(full);
        }
    }

    /// <summary>Writes what is pending and waits for every write started so far.</summary>
    public async Task FlushAsync()
    {
        List<ScheduledCheck> rest;
        lock (_gate)
        {
            rest = _pending;
            _pending = [];
        }
        if (rest.Count > 0)
        {
            Start(rest);
        }
        Task[] writes;
        lock (_gate)
        {
            writes = [.. _writes];
        }
        await Task.WhenAll(writes).ConfigureAwait(false);
    }

    private void Start(List<ScheduledCheck> batch)
    {
        var write = WriteAsync(batch);
        lock (_gate)
        {
            _writes.RemoveAll(w => w.IsCompleted);
            _writes.Add(write);
        }
    }

    private async Task WriteAsync(List<ScheduledCheck> batch)
    {
        try
        {
            await _writer.WaitAsync(writeBy).ConfigureAwait(false);
            try
            {
                await store.RescheduleAsync(batch, writeBy).ConfigureAwait(false);
                Interlocked.Add(ref _recorded, batch.Count);
            }
            finally
            {
                _writer.Release();
            }
        }
        catch (Exception e)
        {
            // Whatever went wrong, only this batch is lost, and its records are due as they were: the next sweep checks them first.
            Interlocked.Add(ref _notRecorded, batch.Count);
            if (DependencyFailures.IsDependencyFailure(e))
            {
                Log.Warn("Sweep could not record {Checks} check(s); their records stay due for the next sweep: {Error}", batch.Count, e.Message);
            }
            else
            {
                Log.Error(e, "Sweep could not record {Checks} check(s): a bug; their records stay due", batch.Count);
            }
        }
    }
}
