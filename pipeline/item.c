/*
 * item: the two ways an item's life ends (see item.h).
 */
#include "pipeline/item.h"

#include "pipeline/offsets.h"
#include "pipeline/queue.h"

/* Gives back what the items held in the queue they came from: in flight no
 * more, and in an ordered queue their keys (fg_queue_release clears q). */
static void release(fg_item_t *items, const size_t *idx, size_t n) {
        for (size_t i = 0; i < n; i++) {
                fg_item_t *it = &items[idx ? idx[i] : i];
                if (it->q)
                        fg_queue_release(it->q, items, idx, n);
        }
}

void fg_item_finish(fg_item_t *it) {
        release(it, NULL, 1);
        fg_part_done(it->part, it->seq);
        fg_part_unref(it->part);
        rd_kafka_message_destroy(it->rkm);
        it->rkm = NULL;
        it->part = NULL;
}

void fg_items_finish(fg_item_t *items, const size_t *idx, size_t n) {
        size_t i = 0;

        release(items, idx, n);
        while (i < n) {
                struct fg_part *part = items[idx[i]].part;
                size_t j = i;

                fg_part_lock(part);
                for (; j < n && items[idx[j]].part == part; j++)
                        fg_part_done_locked(part, items[idx[j]].seq);
                fg_part_unlock(part);
                for (size_t k = i; k < j; k++) {
                        rd_kafka_message_destroy(items[idx[k]].rkm);
                        items[idx[k]].rkm = NULL;
                        items[idx[k]].part = NULL;
                }
                fg_part_unref_n(part, (int)(j - i));
                i = j;
        }
}

void fg_item_abandon(fg_item_t *it) {
        release(it, NULL, 1);
        fg_part_discard(it->part, it->seq);
        fg_part_unref(it->part);
        rd_kafka_message_destroy(it->rkm);
        it->rkm = NULL;
        it->part = NULL;
}
