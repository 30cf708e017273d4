using BatchSync.Domain;
using BatchSync.Logging;

namespace BatchSync.Processing;

/// <summary>
/// Writes a sweep's checks as they complete, in small batches, one write at a time, with a cancellation of its own
/// (never the invocation's deadline): a sweep cut short keeps every check it recorded, and a write that failed leaves
/// only its own batch due. A write starts once <c>batchSize</c> checks wait; the checks that come while it is in flight
/// go together into the next, up to <c>maxBatch</c>, so the batches stay small while writes are quick and grow when the
/// table is slow rather than falling behind.
/// </summary>
public sealed class CheckRecorder(IRecordStore store, int batchSize, int maxBatch, CancellationToken writeBy)
{
    private readonly object _gate = new();
    private readonly List<ScheduledCheck> _pending = [];
    private Task? _writing;
    private bool _flushing;
    private int _recorded;
    private int _notRecorded;

    /// <summary>Checks written.</summary>
    public int Recorded => Volatile.Read(ref _recorded);

    /// <summary>Checks whose write failed: their records stay due.</summary>
    public int NotRecorded => Volatile.Read(ref _notRecorded);

    /// <summary>Takes one completed check.</summary>
    public void Add(ScheduledCheck check)
    {
        lock (_gate)
        {
            _pending.Add(check);
            StartIfDue();
        }
    }

    /// <summary>Writes everything taken so far and returns once it is written (or has failed).</summary>
    public async Task FlushAsync()
    {
        while (true)
        {
            Task? writing;
            lock (_gate)
            {
                _flushing = true;
                StartIfDue();
                writing = _writing;
                if (writing is null)
                {
                    _flushing = false;
                    return;
                }
            }
            await writing.ConfigureAwait(false);
        }
    }

    /// <summary>Under the lock: starts the next write if none is in flight and enough checks wait (any, when flushing).</summary>
    private void StartIfDue()
    {
        if (_writing is not null || _pending.Count == 0 || (_pending.Count < batchSize && !_flushing))
        {
            return;
        }
        var batch = _pending.Take(maxBatch).ToList();
        _pending.RemoveRange(0, batch.Count);
        _writing = WriteAsync(batch);
    }

    private async Task WriteAsync(List<ScheduledCheck> batch)
    {
        await Task.Yield(); // never write under the caller's lock
        try
        {
            await store.RescheduleAsync(batch, writeBy).ConfigureAwait(false);
            Interlocked.Add(ref _recorded, batch.Count);
        }
        catch (Exception e)
        {
            // Whatever went wrong, only this batch is lost, and its records are due as they were: the next sweep checks them first.
            Interlocked.Add(ref _notRecorded, batch.Count);
            if (Aws.DependencyFailures.IsDependencyFailure(e))
            {
                Log.Warn("Sweep could not record {Checks} check(s); their records stay due for the next sweep: {Error}", batch.Count, e.Message);
            }
            else
            {
                Log.Error(e, "Sweep could not record {Checks} check(s): a bug; their records stay due", batch.Count);
            }
        }
        lock (_gate)
        {
            _writing = null;
            StartIfDue();
        }
    }
}
