/**
 * The chat's memory: per room, the last messages under ids that only grow (1, 2, 3, ...), so a
 * client that knows the last id it has shown can ask for exactly what it missed; and a bounded
 * set of such rooms. A room whose log was forgotten starts again at id 1 under a new log, so each
 * log has its own `epoch`: ids are only comparable under the same epoch.
 */

/** A stored message, as clients receive it. */
export interface ChatMessage {
  room: string;
  /** 1 for the room's first message, then +1 per message. */
  id: number;
  nick: string;
  text: string;
  /** When the server stored it, in ms since the epoch. */
  ts: number;
  /** The id the sender's client gave it. */
  cid: string;
}

export interface Missed {
  messages: ChatMessage[];
  /** Whether messages after the asked id were already dropped from the history. */
  gap: boolean;
}

/** One room's last `size` messages. */
export class RoomLog {
  lastId = 0;
  private readonly messages: ChatMessage[] = [];
  /** The sender's key of each kept message -> its id: a retried send gets its first id back. */
  private readonly bySenderKey = new Map<string, number>();
  private readonly senderKeys: string[] = [];

  constructor(
    readonly room: string,
    private readonly size: number,
    /** Names this log among all logs the room had (a new log of the room restarts the ids). */
    readonly epoch = '',
  ) {}

  /**
   * Stores a message, unless one with the same `senderKey` is still kept: then that one is
   * returned and `added` is false.
   */
  add(senderKey: string, fields: Pick<ChatMessage, 'nick' | 'text' | 'cid' | 'ts'>): { message: ChatMessage; added: boolean } {
    const known = this.bySenderKey.get(senderKey);
    if (known !== undefined) return { message: this.messages[known - this.messages[0]!.id]!, added: false };
    const message: ChatMessage = { room: this.room, id: ++this.lastId, ...fields };
    this.messages.push(message);
    this.senderKeys.push(senderKey);
    this.bySenderKey.set(senderKey, message.id);
    if (this.messages.length > this.size) {
      this.messages.shift();
      this.bySenderKey.delete(this.senderKeys.shift()!);
    }
    return { message, added: true };
  }

  /** The kept messages with an id above `after`, oldest first. */
  since(after: number): Missed {
    const first = this.messages[0]?.id ?? this.lastId + 1;
    const from = Math.max(0, after + 1 - first);
    return { messages: this.messages.slice(from), gap: after + 1 < first };
  }
}

/**
 * At most `maxRooms` RoomLogs; a new room pushes out the least recently used idle one. Each log
 * created gets the epoch `<epoch>.<n>` (n counting the logs created), so a room forgotten and
 * opened again is told apart from its earlier log.
 */
export class RoomLogs {
  /** In order of last use, oldest first. */
  private readonly logs = new Map<string, RoomLog>();
  private created = 0;

  constructor(
    private readonly maxRooms: number,
    private readonly size: number,
    /** Whether someone is in the room (such a room is never dropped). */
    private readonly occupied: (room: string) => boolean,
    /** Prefix of the logs' epochs (the chat uses one random per server start). */
    private readonly epoch = '',
  ) {}

  get count(): number {
    return this.logs.size;
  }

  /** The room's log if it is kept (never creates one); like open(), this counts as a use. */
  find(room: string): RoomLog | undefined {
    const log = this.logs.get(room);
    if (log) {
      this.logs.delete(room);
      this.logs.set(room, log);
    }
    return log;
  }

  /** The room's log, created if needed; undefined when every kept room is occupied. */
  open(room: string): RoomLog | undefined {
    const kept = this.find(room);
    if (kept) return kept;
    if (this.logs.size >= this.maxRooms && !this.dropIdle()) return undefined;
    const log = new RoomLog(room, this.size, `${this.epoch}.${++this.created}`);
    this.logs.set(room, log);
    return log;
  }

  private dropIdle(): boolean {
    for (const room of this.logs.keys()) {
      if (!this.occupied(room)) return this.logs.delete(room);
    }
    return false;
  }
}
