# Spillway's patch for moto's DynamoDB TransactWriteItems, loaded by the
# moto_server processes package moto starts (it is written to a temp
# directory as sitecustomize.py and put first on PYTHONPATH).
#
# moto backs a transaction up by deep-copying every table it touches, once
# per action, so a transaction's time grows with the size of its tables (the
# ledger table grows with every commit): a 10-action transaction on a table
# of 2,000 items copies 20,000 items. DynamoDB's latency does not depend on
# a table's size. The patch keeps moto's transaction code and semantics and
# backs up only the items the transaction names: the table copies become the
# tables themselves (moto's rollback then assigns each table to itself) and a
# failed transaction puts back each named item as it was before.
import copy as _copy
import os as _os
import sys as _sys


def _patch():
    if _os.environ.get("SPILLWAY_MOTO_UNPATCHED"):
        print("spillway: moto runs unpatched", file=_sys.stderr, flush=True)
        return
    try:
        from moto.dynamodb import models
        from moto.dynamodb.models.table import Table
    except Exception:  # moto missing or reorganised: run it unpatched
        return
    original = models.DynamoDBBackend.transact_write_items
    if getattr(original, "_spillway_patched", False):
        return

    class _Copy:
        """The copy module as moto's dynamodb models see it: tables are not
        copied (the transaction backs up its items), everything else is."""

        @staticmethod
        def deepcopy(x, memo=None):
            if isinstance(x, Table):
                return x
            return _copy.deepcopy(x, memo)

        def __getattr__(self, name):
            return getattr(_copy, name)

    def key_of(table, op_type, op):
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
            return key
        return op["Key"]

    def transact_write_items(self, transact_items):
        backups = []  # (table name, key, attributes before or None)
        for item in transact_items:
            try:
                op_type, op = next(iter(item.items()))
                name = op["TableName"]
                if name not in self.tables:
                    continue
                key = key_of(self.tables[name], op_type, op)
                current = self.get_item(name, key)
            except Exception:
                continue  # moto's own checks answer this action
            before = current.to_json()["Attributes"] if current is not None else None
            backups.append((name, key, before))
        try:
            return original(self, transact_items)
        except Exception:
            for name, key, before in reversed(backups):
                if before is None:
                    if self.get_item(name, key) is not None:
                        self.delete_item(name, key)
                else:
                    self.put_item(name, before)
            raise

    transact_write_items._spillway_patched = True
    models.copy = _Copy()
    models.DynamoDBBackend.transact_write_items = transact_write_items
    print("spillway: moto's TransactWriteItems backs up items, not tables", file=_sys.stderr, flush=True)


_patch()
