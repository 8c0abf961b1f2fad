from otter.test_files import test_case

OK_FORMAT = False

name = "q2b_val_accuracy"
points = 2

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_val_accuracy_form(val_acc_bigger):
    from kit_checks import check_form_accuracy
    check_form_accuracy(val_acc_bigger, 'val_acc_bigger')

