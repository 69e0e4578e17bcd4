// An intrusive doubly linked list: the node lives in the element, so list
// operations never allocate (the mm core runs where there is no heap).
#pragma once

#include <cstdint>

namespace mm {

template <class T>
struct Link {
  T* prev = nullptr;
  T* next = nullptr;
};

// `M` names the element's link, so one type can sit on several lists.
template <class T, Link<T> T::*M>
class IntrusiveList {
 public:
  bool empty() const { return head_ == nullptr; }
  uint32_t size() const { return size_; }
  T* front() const { return head_; }
  T* back() const { return tail_; }
  static T* next(const T* e) { return (e->*M).next; }
  static T* prev(const T* e) { return (e->*M).prev; }

  void push_back(T* e) { insert_before(nullptr, e); }
  void push_front(T* e) { insert_before(head_, e); }

  // Inserts `e` before `pos`; a null `pos` means at the end.
  void insert_before(T* pos, T* e) {
    Link<T>& l = e->*M;
    l.next = pos;
    l.prev = pos ? (pos->*M).prev : tail_;
    if (l.prev)
      (l.prev->*M).next = e;
    else
      head_ = e;
    if (pos)
      (pos->*M).prev = e;
    else
      tail_ = e;
    ++size_;
  }

  void remove(T* e) {
    Link<T>& l = e->*M;
    if (l.prev)
      (l.prev->*M).next = l.next;
    else
      head_ = l.next;
    if (l.next)
      (l.next->*M).prev = l.prev;
    else
      tail_ = l.prev;
    l.prev = l.next = nullptr;
    --size_;
  }

  T* pop_front() {
    T* e = head_;
    if (e) remove(e);
    return e;
  }

  T* pop_back() {
    T* e = tail_;
    if (e) remove(e);
    return e;
  }

  // for (T* e : list): a walk that starts at the list object, so that a
  // list annotated MM_GUARDED(lock) can be walked only with the lock held
  // (the links themselves are reached through a member pointer, which the
  // analysis does not see). The loop body must not remove `e`.
  class Iterator {
   public:
    explicit Iterator(T* e) : e_(e) {}
    T* operator*() const { return e_; }
    Iterator& operator++() {
      e_ = next(e_);
      return *this;
    }
    bool operator!=(const Iterator& o) const { return e_ != o.e_; }

   private:
    T* e_;
  };
  Iterator begin() const { return Iterator(head_); }
  Iterator end() const { return Iterator(nullptr); }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  uint32_t size_ = 0;
};

}  // namespace mm
